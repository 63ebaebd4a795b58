"""HU -> BMD calibration (CLINICAL.md section 4, step 2): a given line or a fit to phantom inserts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CalibrationError, InputFileError
from ..volume import Volume

__all__ = ["Calibration", "as_calibration", "read_phantom_inserts"]


@dataclass(frozen=True)
class Calibration:
    """Linear HU -> BMD calibration: ``BMD (mg/cm³ HA) = slope * HU + intercept``.

    Attributes
    ----------
    slope, intercept : float
    r_squared : float or None
        Coefficient of determination of the insert fit (None if given directly).
    source : str
        ``"slope/intercept"``, ``"phantom inserts"`` or ``"none"`` (uncalibrated).
    """

    slope: float = 1.0
    intercept: float = 0.0
    r_squared: float | None = None
    source: str = "none"

    @property
    def calibrated(self) -> bool:
        return self.source != "none"

    @property
    def units(self) -> str:
        return "mg/cm3 HA" if self.calibrated else "HU-equivalent (uncalibrated)"

    @classmethod
    def from_slope_intercept(cls, slope: float, intercept: float) -> Calibration:
        """A given calibration; raises :class:`CalibrationError` for a non-positive or non-finite slope."""
        try:
            slope, intercept = float(slope), float(intercept)
        except (TypeError, ValueError):
            raise CalibrationError(
                f"calibration slope {slope!r} / intercept {intercept!r}: give two numbers, e.g. "
                "--calibration 0.8,-16"
            ) from None
        if not (np.isfinite(slope) and np.isfinite(intercept)) or slope <= 0:
            raise CalibrationError(
                f"calibration slope {slope} / intercept {intercept}: the slope must be a positive "
                "number (mg/cm³ per HU) and both finite, e.g. --calibration 0.8,-16"
            )
        return cls(slope, intercept, None, "slope/intercept")

    @classmethod
    def from_inserts(cls, hu, density_mg_cm3, *, min_r_squared: float = 0.8) -> Calibration:
        """Least-squares fit of ``density = slope * HU + intercept`` to phantom inserts.

        Parameters
        ----------
        hu : (n,) float
            Mean CT value of each insert (HU).
        density_mg_cm3 : (n,) float
            Known hydroxyapatite density of each insert.
        min_r_squared : float
            Fits with a lower R² are rejected as ill-conditioned.
        """
        hu = np.asarray(hu, dtype=float).ravel()
        dens = np.asarray(density_mg_cm3, dtype=float).ravel()
        if hu.size != dens.size or hu.size < 2:
            raise CalibrationError(
                f"phantom inserts: need at least two inserts with one HU and one density each, got "
                f"{hu.size} HU values and {dens.size} densities"
            )
        if not (np.all(np.isfinite(hu)) and np.all(np.isfinite(dens))):
            raise CalibrationError("phantom inserts: HU values and densities must be finite numbers")
        if np.ptp(hu) < 1e-6 or np.ptp(dens) < 1e-6:
            raise CalibrationError(
                "phantom inserts: all inserts have the same HU or the same density; use inserts of "
                "different known densities"
            )
        slope, intercept = np.polyfit(hu, dens, 1)
        pred = slope * hu + intercept
        ss_res = float(np.sum((dens - pred) ** 2))
        ss_tot = float(np.sum((dens - dens.mean()) ** 2))
        r2 = 1.0 - ss_res / ss_tot
        if slope <= 0 or r2 < min_r_squared:
            raise CalibrationError(
                f"phantom inserts: the fit is not usable (slope {slope:.4g} mg/cm³ per HU, R² {r2:.3f}); "
                "denser inserts must have higher HU. Check the insert densities and HU values."
            )
        return cls(float(slope), float(intercept), r2, "phantom inserts")

    def apply(self, hu: np.ndarray) -> np.ndarray:
        return (self.slope * hu + self.intercept).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "r_squared": self.r_squared,
            "source": self.source,
            "calibrated": self.calibrated,
            "units": self.units,
        }


def read_phantom_inserts(path: str | os.PathLike, *, volume: Volume | None = None) -> Calibration:
    """Calibration from a JSON file of phantom inserts.

    The file holds ``{"inserts": [{"density_mg_cm3": d, "hu": h}, ...]}``; instead of
    ``"hu"`` an insert may give ``"center_lps": [x, y, z]`` and ``"radius_mm"``, and its HU
    is then the mean of ``volume`` within that sphere.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"phantom inserts {path}: file not found; check the path.")
    try:
        data = json.loads(path.read_text())
        inserts = data["inserts"] if isinstance(data, dict) else data
        dens = [float(e["density_mg_cm3"]) for e in inserts]
    except (ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(
            f'phantom inserts {path}: expected {{"inserts": [{{"density_mg_cm3": ..., "hu": ...}}]}} ({exc})'
        ) from exc
    hu = []
    for n, e in enumerate(inserts):
        if "hu" in e:
            hu.append(float(e["hu"]))
        elif "center_lps" in e and volume is not None:
            hu.append(_sphere_mean(volume, e["center_lps"], float(e.get("radius_mm", 3.0)), f"insert {n}"))
        else:
            raise CalibrationError(f"phantom inserts {path}: insert {n} has neither 'hu' nor 'center_lps'")
    try:
        return Calibration.from_inserts(hu, dens)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def _sphere_mean(volume: Volume, center, radius: float, name: str) -> float:
    center = np.asarray(center, dtype=float)
    volume.require_inside(center[None], [name], what="phantom insert")
    step = min(volume.spacing.min(), radius / 3)
    g = np.arange(-radius, radius + 1e-9, step)
    pts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pts = pts[np.linalg.norm(pts, axis=1) <= radius] + center
    vals = volume.sample(pts)
    return float(np.nanmean(vals))


def as_calibration(calibration) -> Calibration:
    """``calibration`` (None, a :class:`Calibration` or ``(slope, intercept)``) as a checked Calibration.

    Raises
    ------
    CalibrationError
        Not one of those, or a slope that is not a positive finite number.
    """
    if calibration is None:
        return Calibration()
    if isinstance(calibration, Calibration):
        if calibration.calibrated:
            Calibration.from_slope_intercept(calibration.slope, calibration.intercept)  # the same checks
        return calibration
    try:
        slope, intercept = calibration
    except (TypeError, ValueError):
        raise CalibrationError(
            f"calibration {calibration!r}: give a Calibration or (slope, intercept)"
        ) from None
    return Calibration.from_slope_intercept(slope, intercept)
