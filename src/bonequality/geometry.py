"""Geometry in LPS millimetres: lines, planes, circles through three points, skew lines and
orthonormal frames (where a ray leaves bone: :mod:`bonequality.imaging.rays`).

All functions take and return float ndarrays of shape ``(3,)`` (or ``(N, 3)``) in mm.
Degenerate input (coincident or collinear points, parallel lines) raises
:class:`~bonequality.errors.GeometryError` naming the points involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import GeometryError

__all__ = [
    "Circle",
    "Line",
    "Plane",
    "circle_through",
    "closest_points",
    "orthonormal_frame",
    "unit",
]

_EPS = 1e-9


def unit(v, *, name: str = "vector") -> np.ndarray:
    """``v / |v|``; :class:`GeometryError` if ``v`` has (almost) zero length."""
    v = np.asarray(v, dtype=float)
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-9:
        raise GeometryError(f"{name} has zero length: the points defining it coincide. Move one of them.")
    return v / n


def orthonormal_frame(axis, *, hint=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, v, w)`` right-handed orthonormal frame with ``w`` along ``axis``.

    ``u`` is the component of ``hint`` perpendicular to ``axis`` (or of another
    coordinate axis if ``hint`` is parallel to ``axis``).
    """
    w = unit(axis, name="axis")
    for h in (np.asarray(hint, dtype=float), np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])):
        u = h - np.dot(h, w) * w
        if np.linalg.norm(u) > 1e-6:
            u = u / np.linalg.norm(u)
            return u, np.cross(w, u), w
    raise GeometryError("cannot build a frame around the axis")  # pragma: no cover - unreachable


@dataclass(frozen=True)
class Line:
    """Infinite line ``point + t * direction`` (``direction`` unit length, t in mm)."""

    point: np.ndarray
    direction: np.ndarray

    @classmethod
    def through(cls, a, b, *, names: tuple[str, str] = ("first point", "second point")) -> Line:
        """The line from ``a`` towards ``b``."""
        a = np.asarray(a, dtype=float)
        return cls(a, unit(np.asarray(b, dtype=float) - a, name=f"the line {names[0]} -> {names[1]}"))

    def at(self, t) -> np.ndarray:
        """Point(s) at signed distance ``t`` (scalar or (N,)) from :attr:`point`."""
        t = np.asarray(t, dtype=float)
        return self.point + t[..., np.newaxis] * self.direction

    def parameter(self, p) -> np.ndarray:
        """Signed distance along the line of the projection of ``p`` (``(..., 3)``)."""
        return (np.asarray(p, dtype=float) - self.point) @ self.direction

    def project(self, p) -> np.ndarray:
        """Closest point(s) on the line to ``p``."""
        return self.at(self.parameter(p))

    def distance(self, p) -> np.ndarray:
        """Perpendicular distance(s) from ``p`` to the line."""
        p = np.asarray(p, dtype=float)
        return np.linalg.norm(p - self.project(p), axis=-1)


@dataclass(frozen=True)
class Plane:
    """Plane through ``point`` with unit ``normal``."""

    point: np.ndarray
    normal: np.ndarray

    @classmethod
    def from_points(cls, a, b, c, *, names=("A", "B", "C")) -> Plane:
        """The plane through three non-collinear points."""
        a, b, c = (np.asarray(x, dtype=float) for x in (a, b, c))
        n = np.cross(b - a, c - a)
        scale = max(np.linalg.norm(b - a), np.linalg.norm(c - a), _EPS) ** 2
        if np.linalg.norm(n) < 1e-6 * scale:
            raise GeometryError(f"points {', '.join(names)} are collinear or coincide: they define no plane.")
        return cls(a, n / np.linalg.norm(n))

    @classmethod
    def from_normal(cls, point, normal) -> Plane:
        return cls(np.asarray(point, dtype=float), unit(normal, name="plane normal"))

    def signed_distance(self, p) -> np.ndarray:
        return (np.asarray(p, dtype=float) - self.point) @ self.normal

    def project(self, p) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        return p - self.signed_distance(p)[..., np.newaxis] * self.normal

    def project_vector(self, v) -> np.ndarray:
        """Component of vector ``v`` in the plane."""
        v = np.asarray(v, dtype=float)
        return v - (v @ self.normal)[..., np.newaxis] * self.normal

    def intersect(self, line: Line) -> np.ndarray:
        denom = float(line.direction @ self.normal)
        if abs(denom) < 1e-12:
            raise GeometryError("the line is parallel to the plane: no intersection.")
        return line.at(float((self.point - line.point) @ self.normal) / denom)


@dataclass(frozen=True)
class Circle:
    """Circle in 3-D: ``center``, ``radius`` (mm) and unit ``normal`` of its plane."""

    center: np.ndarray
    radius: float
    normal: np.ndarray


def circle_through(a, b, c, *, names=("A", "B", "C")) -> Circle:
    """The circle through three 3-D points (their circumcentre and circumradius).

    Uses the barycentric form of the circumcentre: with ``u = b - a``, ``v = c - a`` and
    ``w = u x v``, ``center = a + (|u|² (v x w) + |v|² (w x u)) / (2 |w|²)``.

    Raises
    ------
    GeometryError
        If the points are collinear or coincide (no unique circle).
    """
    a, b, c = (np.asarray(x, dtype=float) for x in (a, b, c))
    u, v = b - a, c - a
    w = np.cross(u, v)
    ww = float(w @ w)
    scale = max(float(u @ u), float(v @ v), _EPS)
    if ww < 1e-10 * scale * scale:
        raise GeometryError(
            f"points {', '.join(names)} are collinear or coincide, so no circle passes through them. "
            "Place them on the corridor's outline, not on one line."
        )
    center = a + (float(u @ u) * np.cross(v, w) + float(v @ v) * np.cross(w, u)) / (2.0 * ww)
    return Circle(center, float(np.linalg.norm(center - a)), w / np.sqrt(ww))


def closest_points(
    line1: Line, line2: Line, *, names=("line 1", "line 2")
) -> tuple[np.ndarray, np.ndarray, float]:
    """Closest points of two (possibly skew) lines and the gap between them.

    Returns
    -------
    p1, p2 : (3,) ndarray
        The points on ``line1`` and ``line2`` joined by the common perpendicular.
    gap : float
        ``|p1 - p2|`` in mm (0 for intersecting lines).

    Raises
    ------
    GeometryError
        If the lines are parallel (no unique closest points).
    """
    d1, d2 = line1.direction, line2.direction
    r = line1.point - line2.point
    b = float(d1 @ d2)
    denom = 1.0 - b * b
    if denom < 1e-10:
        raise GeometryError(
            f"{names[0]} and {names[1]} are parallel: they have no crossing point. Re-place them."
        )
    d, e = float(d1 @ r), float(d2 @ r)
    t1 = (b * e - d) / denom
    t2 = (e - b * d) / denom
    p1, p2 = line1.at(t1), line2.at(t2)
    return p1, p2, float(np.linalg.norm(p1 - p2))
