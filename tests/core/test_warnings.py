"""Warnings name the caller's line, whichever entry point it called."""

import numpy as np
import pytest

from napari_imreg.core import (
    Registrar,
    RegistrationWarning,
    iter_register_stack,
    make_extended,
    register,
    register_stack,
)

FLAT = np.ones((40, 40))
SCENE = make_extended(40, seed=5)


def _calls():
    yield "register", lambda: register(FLAT, SCENE)
    yield "Registrar.register", lambda: Registrar(FLAT).register(SCENE)
    yield "register_stack", lambda: register_stack(np.stack([FLAT, SCENE]), num_workers=2)
    yield "iter_register_stack", lambda: list(iter_register_stack(np.stack([FLAT, SCENE])))


@pytest.mark.parametrize(("name", "call"), list(_calls()), ids=[name for name, _ in _calls()])
def test_a_flat_image_warns_at_the_callers_line(name, call):
    with pytest.warns(RegistrationWarning, match="an image is constant") as record:
        call()
    assert [warning.filename for warning in record] == [__file__]
