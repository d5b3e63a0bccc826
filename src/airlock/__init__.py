"""Airlock: move a medical laboratory's data between LIS under the controller's signed mandate."""

__version__ = "0.1.0"
