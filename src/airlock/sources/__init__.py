"""Source connectors: read a LIS through a mapping profile as canonical Arrow batches (see docs/profiles.md)."""
