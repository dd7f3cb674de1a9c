"""A pass over a large array, split into runs of rows done by several threads.

numpy's and ``scipy.ndimage``'s inner loops release the GIL, so threads that each
own a contiguous run of rows (of the first axis) share a pass over an image: the
prefilter, the binning and the taper's sums of squares use it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["BLOCK_SIZE", "block_rows", "map_rows", "split_rows"]

T = TypeVar("T")

#: Elements in a block of rows that a pass works on at a time (float64: 512 KiB, within cache).
BLOCK_SIZE = 1 << 16


def block_rows(values) -> int:
    """How many rows of ``values`` (along its first axis) make a block."""
    return max(1, BLOCK_SIZE // max(1, values[0].size))


def split_rows(n: int, parts: int, *, align: int = 1) -> list[tuple[int, int]]:
    """At most ``parts`` runs ``(start, stop)`` of nearly equal length covering
    ``range(n)``, every boundary but ``n`` a multiple of ``align``; none empty."""
    units = -(-n // align)
    parts = max(1, min(parts, units))
    bounds = [min(n, (units * i // parts) * align) for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]


def map_rows(
    function: Callable[[int, int], T], n: int, threads: int, *, align: int = 1
) -> list[T]:
    """``function(start, stop)`` for each run of :func:`split_rows`, in threads when
    there are several; the results in row order."""
    runs = split_rows(n, threads, align=align)
    if len(runs) == 1:
        return [function(*runs[0])]
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return list(pool.map(lambda run: function(*run), runs))
