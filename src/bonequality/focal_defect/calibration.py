"""HU -> BMD calibration (CLINICAL.md section 4, step 2): a given line or a fit to phantom inserts."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError
from ..jsonfields import JsonFile
from ..validation import HU_RANGE, check_inside, check_number, show
from ..volume import Volume

__all__ = [
    "DENSITY_RANGE_MG_CM3",
    "INSERT_RADIUS_RANGE_MM",
    "INTERCEPT_RANGE_MG_CM3",
    "SLOPE_RANGE",
    "Calibration",
    "as_calibration",
    "read_phantom_inserts",
]

#: A calibration slope lies in (0, 10] mg/cm³ HA per HU (CT phantoms: about 0.6-1.2).
SLOPE_RANGE = (0.0, 10.0)
#: A calibration intercept lies within -1000 to 1000 mg/cm³ HA (phantoms: about -50 to 50).
INTERCEPT_RANGE_MG_CM3 = (-1000.0, 1000.0)
#: Known density of a phantom insert, mg/cm³ (K2HPO4 phantoms go slightly below 0; cortical
#: bone inserts reach about 1200-1800).
DENSITY_RANGE_MG_CM3 = (-200.0, 3000.0)
#: Radius of the sphere an insert is measured in, (0, 50] mm.
INSERT_RADIUS_RANGE_MM = (0.0, 50.0)
#: At most this many inserts are read.
MAX_INSERTS = 100
#: The sentence that ends every message about a malformed inserts file.
INSERTS_HINT = (
    'The file holds {"inserts": [{"density_mg_cm3": d, "hu": h} or '
    '{"density_mg_cm3": d, "center_lps": [x, y, z], "radius_mm": r}, ...]}.'
)


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
        """A given calibration (:data:`SLOPE_RANGE`, :data:`INTERCEPT_RANGE_MG_CM3`).

        Raises
        ------
        CalibrationError
            A slope that is not a positive number up to 10 mg/cm³ per HU, or an intercept
            that is not a number within -1000 to 1000 mg/cm³.
        """
        example = "e.g. --calibration 0.8,-16"
        for value in (slope, intercept):
            try:
                float(value)
            except (TypeError, ValueError, OverflowError):
                raise CalibrationError(
                    f"calibration slope {show(slope)} / intercept {show(intercept)}: "
                    f"give two numbers, {example}"
                ) from None
        lo, hi = SLOPE_RANGE
        try:
            slope = check_number(
                slope, name="calibration slope", lo=lo, hi=hi, lo_inclusive=False, error=CalibrationError
            )
        except CalibrationError as exc:
            raise CalibrationError(
                f"{exc} The slope must be a positive number (mg/cm³ per HU) up to {hi:g}; "
                f"BMD = slope * HU + intercept, {example}."
            ) from None
        lo, hi = INTERCEPT_RANGE_MG_CM3
        try:
            intercept = check_number(
                intercept, name="calibration intercept", lo=lo, hi=hi, unit="mg/cm³", error=CalibrationError
            )
        except CalibrationError as exc:
            raise CalibrationError(f"{exc} BMD = slope * HU + intercept, {example}.") from None
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
        in_range = SLOPE_RANGE[0] < slope <= SLOPE_RANGE[1] and (
            INTERCEPT_RANGE_MG_CM3[0] <= intercept <= INTERCEPT_RANGE_MG_CM3[1]
        )
        if not in_range or r2 < min_r_squared:
            raise CalibrationError(
                f"phantom inserts: the fit is not usable (slope {slope:.4g} mg/cm³ per HU, intercept "
                f"{intercept:.4g} mg/cm³, R² {r2:.3f}); denser inserts must have higher HU, the slope lie in "
                f"(0, {SLOPE_RANGE[1]:g}] and the intercept within +-{INTERCEPT_RANGE_MG_CM3[1]:g} mg/cm³. "
                "Check the insert densities and HU values."
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

    The file holds ``{"inserts": [{"density_mg_cm3": d, "hu": h}, ...]}`` (or the list
    alone), 2 to 100 inserts. Instead of ``"hu"`` an insert may give ``"center_lps":
    [x, y, z]`` (inside ``volume``) and ``"radius_mm"`` ((0, 50] mm, default 3); its HU is
    then the mean of ``volume`` within that sphere (``"hu"`` wins when both are given). Densities lie in
    :data:`DENSITY_RANGE_MG_CM3`, HU in :data:`~bonequality.validation.HU_RANGE`.

    Raises
    ------
    InputFileError
        Missing file, a folder, or invalid JSON.
    CalibrationError
        A field of the wrong kind or out of range (named: ``inserts[1].radius_mm``), an
        insert with neither ``hu`` nor ``center_lps``, or a fit that is unusable.
    OutsideImageError
        An insert centre outside the image.
    """
    doc = JsonFile.load(path, "phantom inserts", expect="the inserts .json file", hint=INSERTS_HINT)
    doc.error = CalibrationError
    data = doc.data
    where = "inserts"
    if isinstance(data, dict):
        data = doc.get(data, "inserts", "the file")
    else:
        where = "the file's top level"
    inserts = doc.array(data, where, max_items=MAX_INSERTS)
    hu, dens = [], []
    for n, entry in enumerate(inserts):
        hu.append(_insert_hu(doc, entry, f"inserts[{n}]", volume))
        lo, hi = DENSITY_RANGE_MG_CM3
        dens.append(doc.number(entry["density_mg_cm3"], f"inserts[{n}].density_mg_cm3", lo=lo, hi=hi))
    try:
        return Calibration.from_inserts(hu, dens)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def _insert_hu(doc: JsonFile, entry, where: str, volume: Volume | None) -> float:
    """The HU of one insert: its ``hu`` if given, else the mean of ``volume`` in its sphere.

    ``center_lps`` and ``radius_mm`` are checked whenever present (a phantom's truth file
    gives all three); without ``hu`` they are needed, and so is ``volume``.
    """
    entry = doc.object(entry, where)
    doc.get(entry, "density_mg_cm3", where)
    center = radius = None
    if "center_lps" in entry:
        center = doc.point(entry["center_lps"], f"{where}.center_lps")
    if "radius_mm" in entry or center is not None:
        lo, hi = INSERT_RADIUS_RANGE_MM
        radius = doc.number(
            entry.get("radius_mm", 3.0), f"{where}.radius_mm", lo=lo, hi=hi, lo_inclusive=False, unit="mm"
        )
    if "hu" in entry:
        return doc.number(entry["hu"], f"{where}.hu", lo=HU_RANGE[0], hi=HU_RANGE[1], unit="HU")
    if center is None:
        raise doc.fail(where, "has neither 'hu' nor 'center_lps'; give one")
    if volume is None:
        raise doc.fail(f"{where}.center_lps", "needs the CT to measure the insert in; give 'hu' instead")
    check_inside(
        volume, center, [f"{where}.center_lps"], what="insert centre", source=f"{doc.what} {doc.path}"
    )
    return _sphere_mean(volume, center, radius)


def _sphere_mean(volume: Volume, center: np.ndarray, radius: float) -> float:
    """Mean of ``volume`` in the sphere (trilinear samples on a lattice of at most 41 per axis)."""
    step = max(min(volume.spacing.min(), radius / 3), radius / 20)
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
