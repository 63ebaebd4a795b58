"""Everything one corridor analysis needs, validated once (:class:`CorridorInputs`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import MaskError, OptionError
from ..landmarks import Landmarks, required_labels
from ..validation import SCREW_DIAMETER_RANGE_MM, check_bone_threshold, check_ct, check_screw_diameter, show
from ..volume import Volume
from .options import CorridorOptions

__all__ = ["MAX_SCREW_DIAMETERS", "SCREW_DIAMETER_MAX_MM", "CorridorInputs", "corridor_landmarks"]

#: Largest screw diameter checked for fit (mm); seed 002's screws are 6.5-8 mm.
SCREW_DIAMETER_MAX_MM = SCREW_DIAMETER_RANGE_MM[1]
#: At most this many screw diameters are checked for fit.
MAX_SCREW_DIAMETERS = 10


def corridor_landmarks(landmarks, volume: Volume) -> Landmarks:
    """``landmarks`` as :class:`Landmarks`, with every corridor label placed once inside ``volume``.

    Raises
    ------
    LandmarkError, OutsideImageError
        Naming every missing, duplicated, non-finite or out-of-image label.
    """
    if not isinstance(landmarks, Landmarks):
        landmarks = Landmarks.from_dict(landmarks)
    landmarks.validate(required_labels("corridors"), volume=volume)
    return landmarks


def _screw_diameters(values) -> tuple[float, ...]:
    """Screw diameters to check for fit: 1 to :data:`MAX_SCREW_DIAMETERS`, each in (0, 20] mm."""
    try:
        values = (values,) if np.isscalar(values) else tuple(values)
    except TypeError:
        raise OptionError(f"screw diameters: give numbers in mm, got {show(values)}") from None
    if not 1 <= len(values) <= MAX_SCREW_DIAMETERS:
        raise OptionError(f"screw diameters: give 1 to {MAX_SCREW_DIAMETERS} diameters, got {len(values)}")
    return tuple(check_screw_diameter(d) for d in values)


@dataclass(frozen=True)
class CorridorInputs:
    """The inputs of one corridor analysis (seed 000, CLINICAL.md section 2).

    Built by every caller (CLI, batch, Slicer logic); ``__post_init__`` checks everything,
    so each refuses the same bad input with the same error.

    Attributes
    ----------
    ct : Volume
        CT in HU (refused with :class:`~bonequality.errors.NotCTError` if it does not look like one).
    landmarks : Landmarks or mapping label -> (3,) LPS mm
        The ``corridors`` labels of the landmark schema (CLINICAL.md section 1); stored as
        :class:`~bonequality.landmarks.Landmarks`.
    bone_threshold : float, optional
        HU, strictly between 0 and 3071; default: computed per scan
        (:func:`bonequality.imaging.threshold.bone_threshold`).
    screw_diameters : tuple of float, optional
        mm, each in (0, 20]; overrides ``options.screw_diameters_mm``.
    l5_mask : Volume, optional
        L5 vertebral-body mask (else an ROI around ``L5_body_center``); must overlap the CT.
    name : str
        How the CT is called in messages.
    sources : dict
        File names as given (``"ct"``, ``"landmarks"``), recorded in ``summary.json``.
    options : CorridorOptions

    Raises
    ------
    NotCTError, OptionError, LandmarkError, OutsideImageError, MaskError
    """

    ct: Volume
    landmarks: Landmarks | Mapping
    bone_threshold: float | None = None
    screw_diameters: tuple[float, ...] | None = None
    l5_mask: Volume | None = None
    name: str = "CT"
    sources: dict = field(default_factory=dict)
    options: CorridorOptions = field(default_factory=CorridorOptions)

    def __post_init__(self) -> None:
        check_ct(self.ct, self.name)
        if self.options is None:
            object.__setattr__(self, "options", CorridorOptions())
        elif not isinstance(self.options, CorridorOptions):
            raise OptionError(
                f"corridor options: expected CorridorOptions, got {type(self.options).__name__}"
            )
        object.__setattr__(self, "bone_threshold", check_bone_threshold(self.bone_threshold))
        if self.screw_diameters is not None:
            object.__setattr__(self, "screw_diameters", _screw_diameters(self.screw_diameters))
        object.__setattr__(self, "landmarks", corridor_landmarks(self.landmarks, self.ct))
        if self.l5_mask is not None:
            if not isinstance(self.l5_mask, Volume):
                raise MaskError(f"L5 mask: expected an image, got {type(self.l5_mask).__name__}")
            if not np.any(self.l5_mask.array):
                raise MaskError("L5 mask is empty (no nonzero voxels); segment the structure first.")
            self.l5_mask.require_overlap(self.ct, name="L5 mask", other_name=self.name)
        sources = {str(k): str(v) for k, v in dict(self.sources or {}).items() if v is not None}
        object.__setattr__(self, "sources", sources)

    @property
    def effective_options(self) -> CorridorOptions:
        """``options`` with ``screw_diameters`` applied."""
        if self.screw_diameters is None:
            return self.options
        return replace(self.options, screw_diameters_mm=self.screw_diameters)
