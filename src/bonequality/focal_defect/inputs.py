"""Everything one focal-defect run needs, validated once (CLINICAL.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MaskError, OptionError
from ..imaging.body import BodySource, as_mask
from ..validation import check_ct, check_inside, check_number
from ..volume import Volume
from .calibration import Calibration, as_calibration
from .constants import STARS

__all__ = ["MAX_ANGLES", "FocalDefectInputs", "body_source"]

#: At most this many star-line orientations (the paper uses 15).
MAX_ANGLES = 360


def body_source(*, mask=None, vertebra_mask=None, seed=None, name: str = "") -> BodySource:
    """The vertebral-body source from exactly one of a body mask, a whole-vertebra mask or a seed.

    Raises
    ------
    MaskError
        None or more than one of them given.
    """
    given = [v is not None for v in (mask, vertebra_mask, seed)]
    if sum(given) != 1:
        raise MaskError(
            "give either a vertebral-body mask, a whole-vertebra mask or a seed point (exactly one)"
        )
    if mask is not None:
        return BodySource.body_mask(mask, name=name or "vertebral-body mask")
    if vertebra_mask is not None:
        return BodySource.vertebra_mask(vertebra_mask, name=name or "vertebra mask")
    return BodySource.seed_point(seed, name=name or "seed point")


@dataclass(frozen=True, eq=False)
class FocalDefectInputs:
    """One focal-defect run (seed 004): CT, vertebral-body source, calibration and star.

    Attributes
    ----------
    ct : Volume
        CT in HU, any spacing and direction (LPS).
    body : BodySource
        A body mask, a whole-vertebra mask (posterior elements cut at the spinal canal)
        or a seed point in the body (bone 226-3071 HU grown from it), see
        :func:`bonequality.imaging.body.vertebral_body`.
    calibration : Calibration or (slope, intercept), optional
        HU -> mg/cm³ HA; None = uncalibrated (HU-equivalent). Stored as a Calibration.
    star : {"2d", "3d"}
        The paper's 15 axial orientations or the 3-D star of
        :func:`~bonequality.focal_defect.star.star_directions`.
    angles_deg : sequence of float, optional
        Replace the axial orientations (degrees from the LPS x axis). Stored as a tuple.
    name : str
        How the CT is called in messages.
    sources : dict
        File names as given (``"ct"``, ``"mask"``), for the provenance in summary.json.

    Raises
    ------
    NotCTError, OptionError, CalibrationError, MaskError, GeometryMismatchError, OutsideImageError
        From ``__post_init__``: whoever builds the inputs gets the same error.
    """

    ct: Volume
    body: BodySource
    calibration: Calibration | tuple[float, float] | None = None
    star: str = "2d"
    angles_deg: tuple[float, ...] | None = None
    name: str = "CT"
    sources: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_ct(self.ct, self.name)
        if not isinstance(self.body, BodySource):
            raise OptionError(
                f"vertebral body: expected a BodySource (body mask, vertebra mask or seed point), "
                f"got {type(self.body).__name__}"
            )
        if self.star not in STARS:
            raise OptionError(f"star '{self.star}': choose '2d' (the paper's axial star) or '3d'")
        object.__setattr__(self, "calibration", as_calibration(self.calibration))
        if self.angles_deg is not None:
            angles = np.asarray(self.angles_deg, dtype=object).ravel()
            if not 1 <= angles.size <= MAX_ANGLES:
                raise OptionError(
                    f"star-line angles: give 1 to {MAX_ANGLES} angles (degrees from the LPS x axis), "
                    f"got {angles.size}"
                )
            checked = tuple(
                check_number(a, name="star-line angle", lo=-360.0, hi=360.0, unit="degrees") for a in angles
            )
            object.__setattr__(self, "angles_deg", checked)
        if not isinstance(self.sources, dict):
            raise OptionError(f"sources: expected a dict of file names, got {type(self.sources).__name__}")
        self._check_body()

    def _check_body(self) -> None:
        body = self.body
        if body.kind == "seed":
            check_inside(self.ct, body.seed, ["seed"], what="seed point")
        elif isinstance(body.mask, Volume):
            if not np.any(body.mask.array):
                raise MaskError(f"{body.label} is empty (no nonzero voxels); segment the body first.")
            body.mask.require_overlap(self.ct, name=body.label)
        else:
            as_mask(body.mask, self.ct, body.label)  # shape on the CT grid, not empty
