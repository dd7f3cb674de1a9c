"""The options, made once: validation that names the option, and the same options
(prefilter included) for a pair, a Registrar and a stack."""

import dataclasses

import numpy as np
import pytest

from napari_imreg.core import (
    Options,
    Registrar,
    iter_register_stack,
    make_crop_pair,
    register,
    register_stack,
)


def test_options_are_frozen_and_report_their_defaults():
    options = Options()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.boundary = "wrap"
    assert Options.defaults() == {
        "upsample_factor": "auto",
        "boundary": "auto",
        "zero_mean": None,
        "max_shift": None,
        "prefilter": True,
        "threads": None,
        "errors": "residual",
        "brightness": None,
        "outliers": True,
        "clip_threshold": 10.0,
        "saturation": False,
    }
    assert Options.choices()["boundary"] == ("auto", "overlap", "wrap")
    assert Options(prefilter=np.float32(0.5), zero_mean=0).as_dict()["prefilter"] == 0.5


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"boundary": "reflect"}, ValueError, "boundary must be one of 'auto', 'overlap', 'wrap'"),
        ({"prefilter": 1.5}, ValueError, "prefilter must be True, False or a strength"),
        ({"prefilter": "yes"}, TypeError, "prefilter must be True, False or a strength"),
        ({"upsample_factor": 0}, ValueError, "upsample_factor must be 'auto'"),
    ],
)
def test_every_entry_point_rejects_the_same_bad_option(options, error, match):
    reference, moving = make_crop_pair(40, (1.0, 0.5), noise=0.05, seed=1)
    stack = np.stack([reference, moving])
    for call in (
        lambda: Options(**options),
        lambda: register(reference, moving, **options),
        lambda: Registrar(reference, **options),
        lambda: register_stack(stack, **options),
        lambda: list(iter_register_stack(stack, **options)),
    ):
        with pytest.raises(error, match=match):
            call()


@pytest.mark.parametrize(
    ("threads", "error", "match"),
    [
        (0, ValueError, "threads must be >= 1, got 0"),
        (1.5, TypeError, "threads must be a positive integer or None"),
    ],
)
def test_bad_threads_are_rejected_up_front(threads, error, match):
    # register_stack takes num_workers instead: each of its registrations has one thread.
    reference, moving = make_crop_pair(40, (1.0, 0.5), noise=0.05, seed=1)
    stack = np.stack([reference, moving])
    for call in (
        lambda: register(reference, moving, threads=threads),
        lambda: Registrar(reference, threads=threads),
        lambda: iter_register_stack(stack, threads=threads),
    ):
        with pytest.raises(error, match=match):
            call()


@pytest.mark.parametrize("prefilter", [True, False, 0.5])
def test_a_stack_takes_prefilter_as_a_pair_does(prefilter):
    reference, moving = make_crop_pair(48, (1.3, -0.7), noise=0.05, seed=2)
    pair = register(reference, moving, prefilter=prefilter)
    stack = register_stack(np.stack([reference, moving]), prefilter=prefilter)
    np.testing.assert_array_equal(stack.shifts[1], pair.shift)
    np.testing.assert_array_equal(stack.errors[1], pair.error)
    _, second = list(iter_register_stack(np.stack([reference, moving]), prefilter=prefilter))[1]
    np.testing.assert_array_equal(second.shift, pair.shift)
    assert second.filter_strength == pair.filter_strength


def test_registrar_from_options_matches_the_keywords():
    reference, moving = make_crop_pair(48, (0.4, 2.2), noise=0.05, seed=3)
    options = Options(boundary="overlap", prefilter=0.7, upsample_factor=4)
    made = Registrar.from_options(reference, options).register(moving)
    keywords = Registrar(reference, **options.as_dict()).register(moving)
    np.testing.assert_array_equal(made.shift, keywords.shift)
    np.testing.assert_array_equal(made.delta_chi2, keywords.delta_chi2)
    assert made.filter_strength == 0.7


def test_every_option_is_a_parameter_of_every_entry_point():
    # The widgets and the command line pass Options.as_dict() on: a field one entry
    # point lacks breaks them (register_stack's registrations are one thread each).
    import inspect

    from napari_imreg.core import Registrar, iter_register_stack, register, register_stack

    fields = set(Options.defaults())
    for entry, exempt in [
        (register, set()),
        (Registrar, set()),
        (iter_register_stack, set()),
        (register_stack, {"threads"}),
    ]:
        missing = fields - exempt - set(inspect.signature(entry).parameters)
        assert not missing, f"{entry.__name__} lacks {sorted(missing)}"
