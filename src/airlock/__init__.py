"""Airlock: move a medical laboratory's data between LIS under the controller's signed mandate."""

from airlock.allocator import return_large_buffers

__version__ = "0.1.0"

# Process-wide, before any batch is allocated: see airlock.allocator.
return_large_buffers()
