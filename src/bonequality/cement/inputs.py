"""Everything one cement analysis needs, validated once (:class:`CementInputs`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import GeometryError, MaskError, OptionError
from ..imaging.body import BodySource, as_mask
from ..validation import SCREW_DIAMETER_RANGE_MM, check_ct, check_inside, check_screw_diameter
from ..volume import Volume
from .options import CementOptions
from .screws import Screw

__all__ = ["SCREW_DIAMETER_MAX_MM", "CementInputs"]

#: Largest screw diameter (mm); seed 002's screws are 6.5-8 mm.
SCREW_DIAMETER_MAX_MM = SCREW_DIAMETER_RANGE_MM[1]


def _require_mask(mask, ct: Volume, name: str, ct_name: str) -> None:
    """A mask that is not empty and overlaps ``ct`` (an array must be on the CT grid)."""
    if isinstance(mask, Volume) and not mask.same_grid(ct):
        if not np.any(mask.array):
            raise MaskError(f"{name} is empty (no nonzero voxels); segment the structure first.")
        mask.require_overlap(ct, name=name, other_name=ct_name)
    else:
        as_mask(mask, ct, name)


def _check_screw(screw, ct: Volume) -> None:
    if not isinstance(screw, Screw):
        raise OptionError(f"screws: expected Screw objects, got {type(screw).__name__}")
    check_screw_diameter(screw.diameter_mm, name=f"screw '{screw.name}' diameter")
    try:
        ends = np.array([screw.entry, screw.tip], dtype=float)
    except (TypeError, ValueError):
        ends = np.empty(0)
    if ends.shape != (2, 3) or not np.all(np.isfinite(ends)):
        raise GeometryError(f"screw '{screw.name}': give entry and tip as finite LPS x,y,z in mm")
    if np.linalg.norm(ends[1] - ends[0]) < 1e-6:
        raise GeometryError(f"screw '{screw.name}' has zero length (entry = tip).")
    check_inside(ct, ends, [f"{screw.name} entry", f"{screw.name} tip"], what="screw point")


@dataclass(frozen=True)
class CementInputs:
    """The inputs of one cement analysis (seeds 003 and 002, CLINICAL.md section 5).

    Built by every caller (CLI, batch, Slicer logic); ``__post_init__`` checks everything,
    so each refuses the same bad input with the same error.

    Attributes
    ----------
    ct : Volume
        Post-operative CT in HU (refused with :class:`~bonequality.errors.NotCTError` if it
        does not look like one).
    body : BodySource
        The vertebral body: a body mask, a whole-vertebra mask (posterior elements cut off
        at the spinal canal) or a seed point (:class:`bonequality.imaging.body.BodySource`).
        A mask must be non-empty and overlap the CT; a seed must lie inside the image.
    sacrum_mask : Volume or bool ndarray on the CT grid, optional
        Adds the sacroplasty analysis; must be non-empty and overlap the CT.
    screws : sequence of Screw
        Each screw's cement contact fraction; diameters in (0, 20] mm, entry and tip inside
        the image. Stored as a tuple.
    options : CementOptions
    name : str
        How the CT is called in messages.
    sources : dict
        File names as given (``"ct"``, ``"body_mask"``, ...), recorded in ``summary.json``.

    Raises
    ------
    NotCTError, OptionError, MaskError, GeometryMismatchError, OutsideImageError, GeometryError
    """

    ct: Volume
    body: BodySource
    sacrum_mask: Volume | np.ndarray | None = None
    screws: tuple[Screw, ...] = ()
    options: CementOptions = field(default_factory=CementOptions)
    name: str = "CT"
    sources: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_ct(self.ct, self.name)
        if self.options is None:
            object.__setattr__(self, "options", CementOptions())
        elif not isinstance(self.options, CementOptions):
            raise OptionError(f"cement options: expected CementOptions, got {type(self.options).__name__}")
        if not isinstance(self.body, BodySource):
            raise OptionError(
                f"vertebral body: expected a BodySource (body mask, vertebra mask or seed point), "
                f"got {type(self.body).__name__}"
            )
        if self.body.kind == "seed":
            check_inside(self.ct, self.body.seed, ["seed"], what="seed point")
        else:
            _require_mask(self.body.mask, self.ct, self.body.label, self.name)
        if self.sacrum_mask is not None:
            _require_mask(self.sacrum_mask, self.ct, "sacrum mask", self.name)
        screws = tuple(self.screws or ())
        for screw in screws:
            _check_screw(screw, self.ct)
        object.__setattr__(self, "screws", screws)
        object.__setattr__(self, "sources", {str(k): str(v) for k, v in dict(self.sources or {}).items()})
