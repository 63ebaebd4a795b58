"""Everything one sacroplasty plan needs, validated once for every caller (CLI, batch, Slicer)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OptionError
from ..landmarks import Landmarks
from ..validation import check_bone_threshold, check_ct
from ..volume import Volume
from .options import SacroplastyOptions
from .targets import as_landmarks, plan_geometry

__all__ = ["SacroplastyInputs"]


@dataclass(frozen=True)
class SacroplastyInputs:
    """The inputs of one plan (seed 001; CLINICAL.md section 3).

    Attributes
    ----------
    ct : Volume
        CT in HU.
    landmarks : Landmarks
        The sacroplasty landmarks (:func:`required_sacroplasty_labels`); a mapping
        label -> (3,) LPS mm is converted.
    bone_threshold : float or None
        User bone threshold (HU); None = the per-scan threshold
        (:func:`bonequality.imaging.threshold.bone_threshold`).
    options : SacroplastyOptions
        None becomes the defaults.
    name : str
        How the CT is called in messages.
    sources : dict
        File names as given (``summary.json`` provenance).

    Raises
    ------
    NotCTError
        ``ct`` does not look like a CT in HU.
    OptionError
        Bone threshold outside 0-3071 HU, options not a :class:`SacroplastyOptions`.
    LandmarkError
        Missing, duplicated, non-finite, outside-image, coincident or swapped landmarks; a
        joint or trajectory that does not point anterior; a target outside the image.
    GeometryError
        Lines A and B parallel.
    """

    ct: Volume
    landmarks: Landmarks
    bone_threshold: float | None = None
    options: SacroplastyOptions | None = None
    name: str = "CT"
    sources: dict = field(default_factory=dict)

    def __post_init__(self):
        check_ct(self.ct, self.name)
        object.__setattr__(self, "bone_threshold", check_bone_threshold(self.bone_threshold))
        options = SacroplastyOptions() if self.options is None else self.options
        if not isinstance(options, SacroplastyOptions):
            raise OptionError(
                f"sacroplasty options: expected SacroplastyOptions, got {type(options).__name__}"
            )
        object.__setattr__(self, "options", options)
        landmarks = as_landmarks(self.landmarks)
        object.__setattr__(self, "landmarks", landmarks)
        plan_geometry(landmarks, self.ct)
