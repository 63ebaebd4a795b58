"""Geometry in LPS millimetres: lines, planes, circles through three points, skew lines,
orthonormal frames, and ray marching to the surface of bone.

All functions take and return float ndarrays of shape ``(3,)`` (or ``(N, 3)``) in mm.
Degenerate input (coincident or collinear points, parallel lines) raises
:class:`~bonequality.errors.GeometryError` naming the points involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import AnalysisError, GeometryError

__all__ = [
    "Circle",
    "Line",
    "Plane",
    "RayExit",
    "circle_through",
    "closest_points",
    "first_sustained_run",
    "march_to_exit",
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


@dataclass(frozen=True)
class RayExit:
    """Where a ray leaves bone: ``point`` (LPS mm) at ``distance`` mm from the start."""

    point: np.ndarray
    distance: float


def first_sustained_run(below: np.ndarray, min_samples: int, *, allow_truncated: bool = True) -> int:
    """Index of the first sample that starts a run of at least ``min_samples`` True values.

    A run cut off by the end of the array counts when ``allow_truncated`` is True.
    Returns -1 if there is none.
    """
    below = np.asarray(below, dtype=bool)
    n = below.size
    if n == 0:
        return -1
    min_samples = max(1, int(min_samples))
    # Length of the run of True starting at each index (reverse cumulative count).
    run = np.zeros(n + 1, dtype=np.int64)
    rev = below[::-1]
    idx = np.arange(n)
    reset = np.where(~rev, idx, -1)
    last_reset = np.maximum.accumulate(reset)
    run_rev = idx - last_reset
    run[:n] = run_rev[::-1]
    ok = run[:n] >= min_samples
    if allow_truncated:
        ok |= below & (run[:n] == (n - idx))
    hits = np.flatnonzero(ok)
    return int(hits[0]) if hits.size else -1


def march_to_exit(
    volume,
    start,
    direction,
    *,
    threshold: float,
    min_run_mm: float = 5.0,
    step_mm: float = 0.25,
    max_distance_mm: float | None = None,
    skip_mm: float = 0.0,
    name: str = "ray",
) -> RayExit:
    """March from ``start`` along ``direction`` until the bone is left.

    The exit is where HU falls below ``threshold`` and stays below it for at least
    ``min_run_mm`` (CLINICAL.md section 2, "Bone surface"), located to sub-step accuracy
    by linear interpolation between the last sample at or above and the first below the
    threshold. Outside the image counts as below threshold (air), but a ray that is still
    in bone at the image edge is an error.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    start, direction : (3,) float, LPS mm
        Ray origin and direction (need not be unit length).
    threshold : float, HU
    min_run_mm, step_mm : float, mm
    max_distance_mm : float, optional
        Longest distance to search; defaults to the image diagonal.
    skip_mm : float
        Ignore exits closer than this to ``start``.
    name : str
        Names the ray in error messages.

    Raises
    ------
    AnalysisError
        If the ray never leaves bone inside the image, or never meets bone at all.
    """
    start = np.asarray(start, dtype=float)
    d = unit(direction, name=f"{name} direction")
    if max_distance_mm is None:
        lo, hi = volume.physical_bounds()
        max_distance_mm = float(np.linalg.norm(hi - lo))
    n = int(np.ceil(max_distance_mm / step_mm)) + 1
    t = np.arange(n) * step_mm
    pts = start + t[:, np.newaxis] * d
    hu = volume.sample(pts, fill=np.nan)
    inside = np.isfinite(hu)
    below = ~inside | (hu < threshold)
    first = int(np.searchsorted(t, skip_mm))
    # Only exits preceded by bone count: the exit is a bone -> non-bone transition.
    above_idx = np.flatnonzero(~below[first:]) + first
    if above_idx.size == 0:
        raise AnalysisError(
            f"{name}: no bone (>= {threshold:.0f} HU) along the ray from LPS {np.round(start, 1).tolist()}; "
            "check the landmarks and the bone threshold."
        )
    min_samples = int(np.ceil(min_run_mm / step_mm))
    search_from = int(above_idx[0])
    k = first_sustained_run(below[search_from:], min_samples)
    if k < 0:
        raise AnalysisError(
            f"{name}: still in bone (>= {threshold:.0f} HU) at the image edge, LPS "
            f"{np.round(pts[-1], 1).tolist()}; the corridor never leaves bone. Check the landmarks, the bone "
            "threshold, or use an image that covers the whole pelvis."
        )
    k += search_from
    if not inside[k] and inside[k - 1] and hu[k - 1] >= threshold:
        raise AnalysisError(
            f"{name}: reaches the image edge inside bone at LPS {np.round(pts[k], 1).tolist()}, so it "
            "never leaves bone within the image. Use an image that covers where it leaves the bone, or "
            "check the landmarks and the bone threshold."
        )
    # Sub-step crossing between k-1 (bone) and k (below).
    h0, h1 = hu[k - 1], hu[k]
    frac = 1.0 if not np.isfinite(h1) or h0 == h1 else float(np.clip((h0 - threshold) / (h0 - h1), 0.0, 1.0))
    dist = float(t[k - 1] + frac * step_mm)
    return RayExit(start + dist * d, dist)
