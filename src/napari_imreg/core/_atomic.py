"""Outputs that appear whole or not at all.

Every file or folder the plugin writes is first written under a hidden temporary name in
the folder of its target, then renamed onto the target once complete. A write cut short
(an error, Ctrl-C, a full disk) removes its temporary and leaves the old target as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Staging", "staged"]


class Staging:
    """Temporary names for a set of outputs, renamed onto their targets together.

    Use it as a context manager: leaving the block normally commits every output; an
    exception (``KeyboardInterrupt`` included) discards the temporaries, so the old outputs
    stay as they were.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with Staging() as staging:
    ...     _ = staging.path_for(folder / "a.txt").write_text("done")
    >>> (folder / "a.txt").read_text()
    'done'
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def path_for(self, target: str | os.PathLike) -> Path:
        """A fresh temporary path beside ``target``, with the same name ending.

        The ending is kept because writers choose the format from it (``.fits.gz``).
        """
        target = Path(target)
        temporary = target.with_name(f".{secrets.token_hex(4)}-partial-{target.name}")
        self._pending.append((temporary, target))
        return temporary

    def commit(self) -> None:
        """Rename every temporary onto its target."""
        for temporary, target in self._pending:
            _replace(temporary, target)
        self._pending.clear()

    def discard(self) -> None:
        """Remove every temporary; the targets are not touched."""
        for temporary, _ in self._pending:
            _remove(temporary)
        self._pending.clear()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is None:
            try:
                self.commit()
            finally:
                self.discard()
        else:
            self.discard()
        return False


@contextmanager
def staged(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path for one output, renamed onto ``target`` when the block ends well."""
    with Staging() as staging:
        yield staging.path_for(target)


def _replace(temporary: Path, target: Path) -> None:
    """Rename ``temporary`` onto ``target``; a folder on either side goes through a backup."""
    if not (temporary.is_dir() or (target.is_dir() and not target.is_symlink())):
        os.replace(temporary, target)
        return
    if not target.exists() and not target.is_symlink():
        os.rename(temporary, target)
        return
    # A folder cannot be renamed onto an existing one; the old target waits under a backup
    # name until the new one is in place, and comes back if that rename fails.
    backup = target.with_name(f".{secrets.token_hex(4)}-old-{target.name}")
    os.rename(target, backup)
    try:
        os.rename(temporary, target)
    except BaseException:
        os.rename(backup, target)
        raise
    _remove(backup)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
