"""Errors and warnings that name axes of the images, with the axes kept as data.

The core counts the axes of the images it registers from 0: its "axis 0" is an image's
first. An adapter may count and name them otherwise: a stack layer's frames lie along
one of its axes, so a frame's axis 0 is the layer's axis 1 when the frames lie along
axis 0, and the viewer may call it "y". Such an adapter asks the message for its text
with its own names (:meth:`AxisMessage.told`) instead of reading numbers back out of
the text. The messages keep their axes through a pickle, so they come back whole from
the worker processes that register a stack's frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: Where a message's template names its axes.
AXES = "{axes}"


def counted(axes: tuple[int, ...]) -> str:
    """The core's own words for ``axes``: ``"axis 0"``, ``"axis 0, 2"``."""
    return "axis " + ", ".join(str(axis) for axis in axes)


class AxisMessage:
    """The part of an error or a warning that names axes: mixed into
    :class:`AxisValueError` and :class:`~._result.AxisWarning`.

    Parameters
    ----------
    template : str
        The message, with :data:`AXES` (``"{axes}"``) where it names the axes.
    axes : iterable of int
        The axes it names, counted as the registered images' axes, from 0.

    Notes
    -----
    Both are kept in ``args``, which is what an exception or a warning is pickled by,
    so the message crosses process boundaries with its axes. ``str`` gives the core's
    words (:func:`counted`).
    """

    def __init__(self, template: str, axes: Iterable[int]):
        super().__init__(template, tuple(int(axis) for axis in axes))

    @property
    def template(self) -> str:
        """The message with :data:`AXES` where the axes go."""
        return self.args[0]

    @property
    def axes(self) -> tuple[int, ...]:
        """The axes the message names, counted as the registered images' axes."""
        return self.args[1]

    def told(self, name: Callable[[tuple[int, ...]], str] = counted) -> str:
        """The message, with ``name(axes)`` where it names the axes.

        Examples
        --------
        >>> error = AxisValueError(f"{AXES} has 3 pixels", [1])
        >>> str(error)
        'axis 1 has 3 pixels'
        >>> error.told(lambda axes: "the x axis")
        'the x axis has 3 pixels'
        """
        return self.template.replace(AXES, name(self.axes))

    def __str__(self) -> str:
        return self.told()


class AxisValueError(AxisMessage, ValueError):
    """A :class:`ValueError` about some axes of the images (see :class:`AxisMessage`)."""
