"""Result nodes kept by reference on a holder node, and a cancellable progress callback.

A module's results (tables, charts, lines, overlays) are remembered as MRML node
references on its parameter node, under roles such as ``"corridors.table"``. They are
therefore saved with the scene, found again after reloading it, and updated in place by
the next run rather than duplicated. Slicer's Line Profile module keeps its output the
same way.
"""

from __future__ import annotations

from collections.abc import Callable

import slicer

from ..errors import OperationCancelled

__all__ = ["CancellableProgress", "ResultNodes"]

_PREFIX = "BoneQuality."


class ResultNodes:
    """Role -> node references stored on ``holder`` (usually the module's parameter node).

    Parameters
    ----------
    holder : vtkMRMLNode
        Node that keeps the references (must be in a scene).
    """

    def __init__(self, holder):
        self.holder = holder

    @property
    def scene(self):
        return self.holder.GetScene()

    def get(self, role: str):
        """The node stored for ``role`` (None when absent or deleted)."""
        return self.holder.GetNodeReference(_PREFIX + role)

    def set(self, role: str, node) -> None:
        """Remember ``node`` for ``role`` (None forgets it)."""
        self.holder.SetNodeReferenceID(_PREFIX + role, node.GetID() if node is not None else None)

    def roles(self) -> list[str]:
        """Roles currently stored."""
        out = []
        for i in range(self.holder.GetNumberOfNodeReferenceRoles()):
            role = self.holder.GetNthNodeReferenceRole(i)
            if role.startswith(_PREFIX) and self.holder.GetNodeReference(role) is not None:
                out.append(role[len(_PREFIX) :])
        return out

    def keep(self, role: str, node):
        """Store ``node`` for ``role`` and return it (for ``x = results.keep(role, make(x))``)."""
        self.set(role, node)
        return node


class CancellableProgress:
    """A :data:`bonequality.progress.ProgressCallback` that a cancel button can stop.

    Parameters
    ----------
    update : callable(fraction, message), optional
        Shows the progress (e.g. sets a progress bar and processes GUI events).
    """

    def __init__(self, update: Callable[[float, str], None] | None = None):
        self.update = update
        self.cancelled = False
        self.last = (0.0, "")

    def cancel(self) -> None:
        """Request cancellation; the next progress report raises :class:`OperationCancelled`."""
        self.cancelled = True

    def __call__(self, fraction: float, message: str) -> None:
        self.last = (float(fraction), str(message))
        if self.update is not None:
            self.update(float(fraction), str(message))
        if self.cancelled:
            raise OperationCancelled("cancelled by the user; previous results were kept.")


def scene_of(node):
    """The scene of ``node``, or ``slicer.mrmlScene``."""
    return node.GetScene() if node is not None and node.GetScene() is not None else slicer.mrmlScene
