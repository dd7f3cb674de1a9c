"""Outputs that appear whole or not at all, and never in place of an input.

Every file or folder the plugin writes is first written under a hidden temporary name in
the folder of its target, then renamed onto the target once complete. A write cut short
(an error, Ctrl-C, a full disk) removes its temporary and leaves the old target as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Staging", "check_outputs", "staged"]


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


def check_outputs(
    outputs: Iterable[tuple[str, str | os.PathLike]],
    inputs: Iterable[str | os.PathLike],
    *,
    overwrite: bool,
) -> None:
    """Refuse outputs that would replace an input, each other, or (without ``overwrite``) a file.

    Parameters
    ----------
    outputs : iterable of (str, path)
        Each output with the name of the option that chose it (``"--output"``).
    inputs : iterable of path
        Every file or folder read. An output is refused if it is one of them (compared by
        inode, so links count), holds one (a folder replaced would take it along), or lies
        inside one (the array of a zarr group).
    overwrite : bool
        Whether existing outputs may be replaced.

    Raises
    ------
    ValueError
        Naming the option, the path and what to do instead.
    """
    sources = [Path(p) for p in inputs]
    seen: dict[Path, str] = {}
    for option, path in outputs:
        path = Path(path)
        resolved = path.resolve()
        for source in sources:
            if _same(path, source) or _related(resolved, source.resolve()):
                raise ValueError(
                    f"{option} {path} would replace the input {source}; "
                    "choose another name for the output."
                )
        if resolved in seen:
            raise ValueError(
                f"{option} {path} is also given to {seen[resolved]}; "
                "give each output its own name."
            )
        seen[resolved] = option
        if path.exists() and not overwrite:
            raise ValueError(
                f"{option} {path} already exists; pass --overwrite to replace it, "
                "or choose another name."
            )


def _same(path: Path, source: Path) -> bool:
    try:
        return path.exists() and source.exists() and os.path.samefile(path, source)
    except OSError:
        return False


def _related(output: Path, source: Path) -> bool:
    """The same path, or one inside the other (a folder replaced takes its contents along)."""
    return output == source or output in source.parents or source in output.parents


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
