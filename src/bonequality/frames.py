"""The one place that converts between Slicer's RAS and the library's LPS.

Slicer stores world coordinates in RAS; ITK, SimpleITK, DICOM and this library use LPS.
The two differ by a sign flip of the first two axes. Everything that crosses the
boundary (MRML adapters, ``.mrk.json`` files) goes through these functions; Slicer's
``sitkUtils.py`` is the model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LPS_TO_RAS", "ijk_to_ras_matrix", "lps_to_ras", "ras_to_lps", "volume_geometry_from_ijk_to_ras"]

#: Diagonal flip; its own inverse.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def lps_to_ras(points) -> np.ndarray:
    """LPS mm ``(..., 3)`` to RAS mm ``(..., 3)``."""
    return np.asarray(points, dtype=float) * np.array([-1.0, -1.0, 1.0])


def ras_to_lps(points) -> np.ndarray:
    """RAS mm ``(..., 3)`` to LPS mm ``(..., 3)``."""
    return np.asarray(points, dtype=float) * np.array([-1.0, -1.0, 1.0])


def ijk_to_ras_matrix(spacing, origin_lps, direction_lps) -> np.ndarray:
    """(4, 4) IJK-to-RAS matrix of a grid given in LPS (spacing, origin, direction columns)."""
    m = np.eye(4)
    m[:3, :3] = LPS_TO_RAS @ (np.asarray(direction_lps, dtype=float) * np.asarray(spacing, dtype=float))
    m[:3, 3] = lps_to_ras(origin_lps)
    return m


def volume_geometry_from_ijk_to_ras(ijk_to_ras) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`ijk_to_ras_matrix`: ``(spacing, origin_lps, direction_lps)``."""
    m = np.asarray(ijk_to_ras, dtype=float)
    lin = LPS_TO_RAS @ m[:3, :3]
    spacing = np.linalg.norm(lin, axis=0)
    direction = lin / spacing
    return spacing, ras_to_lps(m[:3, 3]), direction
