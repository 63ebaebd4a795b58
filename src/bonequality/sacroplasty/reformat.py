"""Planar reformats of the CT for the report and the Slicer views (seed 001 Fig. 1A and 1C)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import unit
from .options import ANTERIOR

__all__ = ["Reformat", "reformat_along_joint", "reformat_midsagittal", "reformat_plane"]


@dataclass(frozen=True)
class Reformat:
    """A planar reformat: ``image[r, c]`` at LPS ``origin + c * spacing * u + r * spacing * v``.

    Attributes
    ----------
    image : (nv, nu) float ndarray
        HU (NaN outside the CT).
    origin : (3,) float, LPS mm
        Position of pixel ``[0, 0]``.
    u, v : (3,) float
        Unit LPS directions of columns (``u``, towards anterior along the joint) and rows
        (``v``, superior).
    spacing : float, mm
    """

    image: np.ndarray
    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    spacing: float

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.u, self.v)

    def to_pixel(self, points) -> np.ndarray:
        """LPS points ``(..., 3)`` projected on the plane, as ``(..., 2)`` (column, row) pixels."""
        rel = np.asarray(points, dtype=float) - self.origin
        return np.stack([rel @ self.u, rel @ self.v], axis=-1) / self.spacing

    def to_mm(self, points) -> np.ndarray:
        """LPS points ``(..., 3)`` to in-plane ``(..., 2)`` mm (u, v) from :attr:`origin`."""
        return self.to_pixel(points) * self.spacing

    def extent_mm(self) -> tuple[float, float, float, float]:
        """``(u_min, u_max, v_min, v_max)`` in mm, for matplotlib ``imshow(extent=...)`` with origin lower."""
        nv, nu = self.image.shape
        h = self.spacing / 2
        return (-h, (nu - 1) * self.spacing + h, -h, (nv - 1) * self.spacing + h)


def reformat_plane(volume, center, u, v, *, size_mm: float = 120.0, spacing_mm: float = 0.5) -> Reformat:
    """Square planar reformat through ``center`` with columns along ``u`` and rows along ``v``.

    Parameters
    ----------
    volume : Volume
    center : (3,) float, LPS mm
        Middle of the image.
    u, v : (3,) float
        In-plane LPS directions (made orthonormal: ``v`` loses its component along ``u``).
    size_mm, spacing_mm : float
        Side length and pixel size, mm.
    """
    u = unit(u, name="reformat column direction")
    v = np.asarray(v, dtype=float)
    v = unit(v - (v @ u) * u, name="reformat row direction")
    n = round(size_mm / spacing_mm) + 1
    origin = np.asarray(center, dtype=float) - (n - 1) / 2 * spacing_mm * (u + v)
    g = np.arange(n) * spacing_mm
    pts = origin + g[None, :, None] * u + g[:, None, None] * v
    return Reformat(volume.sample(pts), origin, u, v, float(spacing_mm))


def reformat_along_joint(
    volume, center, joint_direction, *, size_mm: float = 120.0, spacing_mm: float = 0.5
) -> Reformat:
    """Sagittal-oblique reformat through ``center`` parallel to an SI joint (seed 001 Fig. 1C).

    The plane contains the vertical (LPS ``z``) and the axial joint direction, so it holds
    all three needle trajectories of that side. Columns run along the joint towards
    anterior, rows upward; ``center`` is in the middle.

    Parameters
    ----------
    volume : Volume
    center : (3,) float, LPS mm
    joint_direction : (3,) float
        Axial direction dorsal -> ventral (its ``z`` part is ignored).
    size_mm, spacing_mm : float
        Side length and pixel size of the square image.
    """
    j = np.asarray(joint_direction, dtype=float)
    u = np.array([j[0], j[1], 0.0])
    return reformat_plane(volume, center, u, (0.0, 0.0, 1.0), size_mm=size_mm, spacing_mm=spacing_mm)


def reformat_midsagittal(volume, center, *, size_mm: float = 120.0, spacing_mm: float = 0.5) -> Reformat:
    """Sagittal reformat through ``center`` (seed 001 Fig. 1A): columns anterior (-y), rows up (z)."""
    return reformat_plane(volume, center, ANTERIOR, (0.0, 0.0, 1.0), size_mm=size_mm, spacing_mm=spacing_mm)
