"""Progress reporting and cancellation shared by the library, the CLI and Slicer.

Long functions take ``progress: ProgressCallback | None`` and call it as
``progress(fraction, message)`` with ``fraction`` in [0, 1]. A callback may raise
:class:`~bonequality.errors.OperationCancelled` to stop the work (Slicer's cancel button
does exactly that). SlicerElastix's log callback is the model.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]

__all__ = ["ProgressCallback", "report", "scaled"]


def report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    """Call ``progress`` if given, clamping ``fraction`` to [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


def scaled(progress: ProgressCallback | None, start: float, stop: float) -> ProgressCallback | None:
    """A callback that maps a sub-task's [0, 1] onto ``[start, stop]`` of ``progress``."""
    if progress is None:
        return None

    def sub(fraction: float, message: str) -> None:
        progress(start + (stop - start) * min(1.0, max(0.0, fraction)), message)

    return sub
