"""tests: the synthetic images of the reference package's notebook.

Not a test suite: helpers that make test data (napari-imreg's own tests live in the
repository's ``tests/`` directory).
"""

from .registration_testing import (
    compare_methods,
    edge_weight,
    make_extended,
    make_offset_extended,
    plot_compare_methods,
)

__all__ = [
    "compare_methods",
    "edge_weight",
    "make_extended",
    "make_offset_extended",
    "plot_compare_methods",
]
