"""Synthetic LIS databases for tests, demos and benchmarks: realistic, deterministic, never real people.

``airlock.synth.blis.generate`` writes a C4G BLIS 1.27 database of French patients
to SQLite or MariaDB, with the mess a real LIS holds (free-text comments naming
diagnoses, phone numbers and NIRs; sensitive tests; staff credentials).
"""
