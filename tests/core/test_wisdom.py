"""FFTW wisdom on disk: saved after new plans, read back, a bad file ignored, an off switch."""

import json
import logging

import numpy as np
import pytest

from napari_imreg.core import _fft, _wisdom

pyfftw = pytest.importorskip("pyfftw")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder, and FFTW starting with no wisdom at all."""
    monkeypatch.setattr(_wisdom, "_cache_folder", lambda: tmp_path)
    monkeypatch.delenv(_wisdom.ENVIRONMENT_VARIABLE, raising=False)
    pyfftw.forget_wisdom()
    yield tmp_path
    pyfftw.forget_wisdom()


def _entries(blobs) -> set[str]:
    """The lines of FFTW's wisdom (their order is a hash table's, not meaningful)."""
    return {line.strip() for blob in blobs for line in blob.decode().splitlines()[1:-1]}


def _measure_a_plan(shape=(96, 1000)) -> None:
    """Plan a transform FFTW has not seen (with FFTW_MEASURE) and save it."""
    wisdom = _wisdom.Wisdom(pyfftw)
    wisdom.load()
    pyfftw.FFTW(
        pyfftw.empty_aligned(shape, dtype="float64"),
        pyfftw.empty_aligned((shape[0], shape[1] // 2 + 1), dtype="complex128"),
        axes=(0, 1),
        flags=("FFTW_MEASURE",),
    )
    wisdom.save()


def test_wisdom_round_trips_through_the_cache_folder(cache):
    _measure_a_plan()
    learned = _entries(pyfftw.export_wisdom())
    assert learned
    files = list(cache.glob("fftw-wisdom-*.json"))
    assert len(files) == 1
    assert files[0].name == f"fftw-wisdom-{pyfftw.__version__}.json"
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary left

    pyfftw.forget_wisdom()
    assert not _entries(pyfftw.export_wisdom())
    _wisdom.Wisdom(pyfftw).load()
    assert _entries(pyfftw.export_wisdom()) == learned


def test_saving_keeps_what_another_process_saved(cache):
    _measure_a_plan((96, 1000))
    first = _entries(pyfftw.export_wisdom())
    pyfftw.forget_wisdom()  # a second process, which learned something else
    _measure_a_plan((80, 720))
    second = _entries(pyfftw.export_wisdom())
    saved = json.loads(next(cache.glob("fftw-wisdom-*.json")).read_text())["wisdom"]
    assert first | second <= _entries(blob.encode() for blob in saved)


@pytest.mark.parametrize(
    "content",
    [
        b"not json at all",
        b"\xff\xfe\x00 binary",
        json.dumps({"format": 1, "wisdom": ["(fftw-3 garbage", "x", "y"]}).encode(),
        json.dumps({"format": 99, "wisdom": []}).encode(),
        json.dumps({"format": 1}).encode(),
        json.dumps([1, 2, 3]).encode(),
    ],
)
def test_a_corrupt_file_is_ignored_with_a_log_message(cache, caplog, content):
    path = cache / f"fftw-wisdom-{pyfftw.__version__}.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger=_wisdom.__name__):
        _measure_a_plan()
    assert "ignored" in caplog.text
    assert str(path) in caplog.text
    # The bad file was replaced by good wisdom on the save.
    pyfftw.forget_wisdom()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=_wisdom.__name__):
        _wisdom.Wisdom(pyfftw).load()
    assert caplog.text == ""


@pytest.mark.parametrize("value", ["off", "0", "No", "false"])
def test_the_environment_variable_turns_it_off(cache, monkeypatch, value):
    monkeypatch.setenv(_wisdom.ENVIRONMENT_VARIABLE, value)
    assert _wisdom.Wisdom(pyfftw).path() is None
    _measure_a_plan()
    assert list(cache.iterdir()) == []


def test_the_environment_variable_names_another_file(cache, monkeypatch, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "sub" / "wisdom.json"
    monkeypatch.setenv(_wisdom.ENVIRONMENT_VARIABLE, str(elsewhere))
    _measure_a_plan()
    assert elsewhere.exists()
    assert list(cache.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_not_an_error(cache, monkeypatch, caplog):
    blocker = cache / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(_wisdom.ENVIRONMENT_VARIABLE, str(blocker / "wisdom.json"))
    with caplog.at_level(logging.INFO, logger=_wisdom.__name__):
        _measure_a_plan()
    assert "not saved" in caplog.text


def test_the_fft_backend_saves_wisdom_for_large_measured_plans(cache, monkeypatch):
    monkeypatch.setattr(_fft, "_NEW_WISDOM_SECONDS", 0.0)
    # A shape no other test plans, on a fresh thread's plan cache.
    import threading

    image = np.random.default_rng(1).normal(size=(272, 270))
    out = {}
    thread = threading.Thread(target=lambda: out.update(spectrum=_fft.rfftn(image)))
    thread.start()
    thread.join()
    np.testing.assert_allclose(out["spectrum"], np.fft.rfftn(image), rtol=1e-10, atol=1e-9)
    assert list(cache.glob("fftw-wisdom-*.json"))
