"""FFTW wisdom kept on disk, so that a new process does not plan its transforms again.

Planning a large transform with ``FFTW_MEASURE`` costs from a tenth of a second to
several seconds per shape (about 12 s for the three plans of an 8192² pair), and
every new process (each command-line run) would pay it. FFTW can export what it
learned ("wisdom") and import it later, which brings planning down to
milliseconds. The wisdom is read from the user's cache folder before the first
plan and written back after each plan that measured something new.

The file is written to a temporary name in the same folder and renamed into
place, so a reader never sees half a file; a file that cannot be read or that
FFTW rejects is ignored with a log message. Set the environment variable
``NAPARI_IMREG_FFTW_WISDOM`` to ``off`` (or ``0``, ``no``, ``false``) to neither
read nor write it, or to a file path to use that file instead.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from ._threads import fork_safe_lock

__all__ = ["ENVIRONMENT_VARIABLE", "Wisdom"]

logger = logging.getLogger(__name__)

#: The environment variable that turns the wisdom file off or points it elsewhere.
ENVIRONMENT_VARIABLE = "NAPARI_IMREG_FFTW_WISDOM"
_OFF = ("off", "0", "no", "false")
_FORMAT = 1


def _cache_folder() -> Path:
    """The user's cache folder for this package (platformdirs' choice per OS)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-imreg", appauthor=False))


class Wisdom:
    """FFTW's wisdom on disk for one pyfftw module: loaded once, saved after new plans.

    Parameters
    ----------
    pyfftw : module
        The pyfftw module whose ``import_wisdom`` and ``export_wisdom`` are used.
    """

    def __init__(self, pyfftw):
        self._pyfftw = pyfftw
        self._lock = fork_safe_lock()
        self._loaded_from: Path | None = None

    def path(self) -> Path | None:
        """The wisdom file, or None when the environment variable turns it off.

        Read at each use rather than once, so that a test or a user can change the
        variable or the cache folder within a process. The file name carries the
        pyfftw version: wisdom is only valid for the FFTW build that made it.
        """
        setting = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
        if setting.lower() in _OFF:
            return None
        if setting:
            return Path(setting).expanduser()
        version = getattr(self._pyfftw, "__version__", "unknown")
        return _cache_folder() / f"fftw-wisdom-{version}.json"

    def load(self) -> None:
        """Import the wisdom file into FFTW, once per file and process."""
        path = self.path()
        if path is None or path == self._loaded_from:
            return
        with self._lock:
            if path != self._loaded_from:
                self._import(path)
                self._loaded_from = path

    def save(self) -> None:
        """Write FFTW's wisdom to the file, merged with what other processes saved there.

        FFTW merges imported wisdom with its own, so reading the file again before
        writing keeps the plans another process added since this one loaded it.
        """
        path = self.path()
        if path is None:
            return
        with self._lock:
            self._import(path, quiet=True)
            blobs = self._pyfftw.export_wisdom()
            text = json.dumps(
                {"format": _FORMAT, "wisdom": [blob.decode("ascii") for blob in blobs]}
            )
            try:
                _write_atomically(path, text)
            except OSError as error:
                logger.info("FFTW wisdom not saved to %s: %s", path, error)

    def _import(self, path: Path, *, quiet: bool = False) -> None:
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as error:
            logger.warning("FFTW wisdom in %s ignored: %s", path, error)
            return
        try:
            content = json.loads(text)
            if content.get("format") != _FORMAT:
                raise ValueError(f"format {content.get('format')!r}, expected {_FORMAT}")
            blobs = tuple(blob.encode("ascii") for blob in content["wisdom"])
            if len(blobs) != 3:
                raise ValueError(f"{len(blobs)} blocks of wisdom, expected 3")
            accepted = self._pyfftw.import_wisdom(blobs)
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeEncodeError) as error:
            if not quiet:
                logger.warning("FFTW wisdom in %s ignored (not a wisdom file): %s", path, error)
            return
        if not all(accepted) and not quiet:
            logger.warning("FFTW wisdom in %s ignored in part: FFTW rejected it", path)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
