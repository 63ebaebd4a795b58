"""Long actions off the server's event loop, with progress, cancel and in-page errors.

The trame server is one asyncio loop: MRML nodes and views are touched only there. A
:class:`JobRunner` runs the library call (``compute``) in a worker thread, publishes its
``progress(fraction, message)`` to the page every 100 ms, and applies the result
(``apply``: write the result nodes and tables) back on the loop. A
:class:`~bonequality.errors.BoneQualityError` (bad input), a cancel or an internal error
becomes a message in the page; ``apply`` is not called, so the previous results stay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import BoneQualityError, OperationCancelled
from ..mrml.results import CancellableProgress

__all__ = ["JobRunner", "error_message"]

logger = logging.getLogger(__name__)

#: Seconds between two progress updates sent to the page.
PROGRESS_PERIOD_S = 0.1


def error_message(exc: BaseException) -> str:
    """The one line shown in the page for ``exc``."""
    if isinstance(exc, BoneQualityError):
        return str(exc)
    if isinstance(exc, OperationCancelled):
        return f"{exc}" if str(exc) else "cancelled; previous results were kept."
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot write or read a file: {exc.strerror or exc}{where}; choose another location."
    return f"internal error: {type(exc).__name__}: {exc}"


class JobRunner:
    """One panel's long actions: state ``<prefix>_busy``, ``_progress``, ``_progress_text``, ``_error``.

    Parameters
    ----------
    state : trame State
    prefix : str
        State key prefix of the panel (e.g. ``"cement"``).
    """

    def __init__(self, state, prefix: str):
        self.state = state
        self.prefix = prefix
        self._progress: CancellableProgress | None = None
        state[f"{prefix}_busy"] = False
        state[f"{prefix}_progress"] = 0
        state[f"{prefix}_progress_text"] = ""
        state[f"{prefix}_error"] = ""
        state[f"{prefix}_info"] = ""

    def key(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    @property
    def busy(self) -> bool:
        return bool(self.state[self.key("busy")])

    def cancel(self) -> None:
        """Ask the running job to stop at its next progress report."""
        if self._progress is not None:
            self._progress.cancel()

    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` as the panel's one-line message (the results stay)."""
        if not isinstance(exc, BoneQualityError | OperationCancelled):
            logger.exception("internal error in %s", self.prefix, exc_info=exc)
        with self.state:
            self.state[self.key("error")] = error_message(exc)
            self.state[self.key("info")] = ""

    def show_info(self, text: str) -> None:
        with self.state:
            self.state[self.key("info")] = text
            self.state[self.key("error")] = ""

    def run_now(self, action: Callable[[], Any], *, done: str = "") -> Any:
        """Run a short action on the loop; a failure becomes the panel's message. Returns its value."""
        try:
            value = action()
        except Exception as exc:  # shown in the page; the server keeps running
            self.show_error(exc)
            return None
        if done:
            self.show_info(done)
        else:
            with self.state:
                self.state[self.key("error")] = ""
        return value

    async def run(
        self,
        compute: Callable[[CancellableProgress], Any],
        apply: Callable[[Any], None],
        *,
        label: str,
    ) -> bool:
        """Run ``compute(progress)`` in a thread, then ``apply(result)`` on the loop.

        Returns True when the result was applied. Only one job runs at a time per panel.
        """
        if self.busy:
            self.show_error(BoneQualityError(f"{self.prefix}: wait for '{label}' to finish or cancel it."))
            return False
        progress = CancellableProgress()
        progress.last = (0.0, label)
        self._progress = progress
        with self.state:
            self.state[self.key("busy")] = True
            self.state[self.key("error")] = ""
            self.state[self.key("info")] = ""
            self.state[self.key("progress_text")] = label
            self.state[self.key("progress")] = 0
        t0 = time.perf_counter()
        future = asyncio.get_running_loop().run_in_executor(None, compute, progress)
        try:
            while not future.done():
                await asyncio.wait([future], timeout=PROGRESS_PERIOD_S)
                fraction, message = progress.last
                with self.state:
                    self.state[self.key("progress")] = round(100 * fraction)
                    self.state[self.key("progress_text")] = message or label
            result = future.result()
            apply(result)
        except Exception as exc:  # bad input, cancel or an internal error: a message, results kept
            self.show_error(exc)
            return False
        finally:
            self._progress = None
            with self.state:
                self.state[self.key("busy")] = False
                self.state[self.key("progress")] = 0
        self.show_info(f"{label}: done in {time.perf_counter() - t0:.1f} s")
        return True
