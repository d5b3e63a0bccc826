"""The process's memory allocator, told to give large buffers back to the system when they are freed.

Airlock streams batches of a few megabytes through connectorx, Arrow and polars. glibc's malloc serves a
large request from its own mmap and returns it on free, but after the first such free it raises that
threshold (up to 32 MiB), so later batches come from the heap, which fragments as they interleave with
small long-lived allocations and never shrinks: streaming the results of a 500,000-patient BLIS source,
resident memory climbed to ~840 MiB while the live batches held a tenth of it. A fixed threshold keeps
every buffer of 64 KiB or more in its own mapping (~530 MiB on the same stream, no measurable time cost).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

#: glibc's mallopt parameter for the mmap threshold (malloc.h: M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD`; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
