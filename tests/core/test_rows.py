"""Runs of rows shared by threads: they cover every row once, in order."""

import itertools
import threading

import pytest

from napari_imreg.core._rows import map_rows, split_rows

CASES = [(10, 3, 1), (10, 4, 4), (7, 16, 1), (4096, 2, 4), (3, 2, 4), (1, 1, 1)]


@pytest.mark.parametrize(("n", "parts", "align"), CASES)
def test_split_rows_covers_every_row_once_on_aligned_boundaries(n, parts, align):
    runs = split_rows(n, parts, align=align)
    assert 1 <= len(runs) <= parts
    assert runs[0][0] == 0
    assert runs[-1][1] == n
    for (_, stop), (start, _) in itertools.pairwise(runs):
        assert stop == start
        assert stop % align == 0
    assert all(start < stop for start, stop in runs)
    lengths = [stop - start for start, stop in runs]
    assert max(lengths) - min(lengths) <= align  # balanced (the last may be short)


def test_map_rows_runs_concurrently_and_returns_the_results_in_row_order():
    # Two runs meet at a barrier: this only passes if they run at the same time.
    barrier = threading.Barrier(2, timeout=10)

    def rows(start, stop):
        barrier.wait()
        return list(range(start, stop))

    parts = map_rows(rows, 1000, 2)
    assert [row for part in parts for row in part] == list(range(1000))
    assert len(parts) == 2


def test_map_rows_on_one_thread_runs_in_the_caller():
    assert map_rows(lambda start, stop: threading.get_ident(), 50, 1) == [threading.get_ident()]
