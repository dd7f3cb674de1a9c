"""Passes over large arrays in blocks of rows small enough to stay in cache."""

from __future__ import annotations

__all__ = ["BLOCK_SIZE", "block_rows"]

#: Elements in a block of rows that a pass works on at a time (float64: 512 KiB).
BLOCK_SIZE = 1 << 16


def block_rows(values) -> int:
    """How many rows of ``values`` (along its first axis) make a block."""
    return max(1, BLOCK_SIZE // max(1, values[0].size))
