"""Everything one sacroplasty plan needs, validated once for every caller (CLI, batch, Slicer)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import MaskError, OptionError
from ..imaging.envelope import mask_envelope, region_slices
from ..landmarks import Landmarks
from ..masks import check_mask_volume
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
    sacrum_mask : Volume or bool ndarray on the CT grid, optional
        A sacrum segmentation (e.g. TotalSegmentator's): it is then the envelope that
        decides what is inside the sacrum. A Volume on another grid is resampled (nearest
        neighbour) onto the CT's; it becomes a boolean Volume on the CT grid.
    sacrum_mask_name : str
        How the mask is called in messages (e.g. ``"--sacrum-mask sacrum.nii.gz"``).

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
    MaskError
        The sacrum mask is empty, or does not overlap the CT
        (:class:`~bonequality.errors.GeometryMismatchError`), or holds no voxel near the
        landmarks.
    """

    ct: Volume
    landmarks: Landmarks
    bone_threshold: float | None = None
    options: SacroplastyOptions | None = None
    name: str = "CT"
    sources: dict = field(default_factory=dict)
    sacrum_mask: Volume | None = None
    sacrum_mask_name: str = "sacrum mask"

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
        geo = plan_geometry(landmarks, self.ct)
        if self.sacrum_mask is not None:
            envelope = mask_envelope(self.ct, self.sacrum_mask, name=self.sacrum_mask_name)
            _require_near(envelope, geo, self.sacrum_mask_name)
            check_mask_volume(
                envelope.mask.array, self.ct.voxel_volume_mm3, "sacrum_mask", self.sacrum_mask_name
            )
            object.__setattr__(self, "sacrum_mask", envelope.mask)


#: A sacrum mask must hold a voxel this close (mm, along each axis) to a sacroplasty target.
MASK_REACH_MM = 50.0


def _require_near(envelope, geo, name: str) -> None:
    """Refuse a mask with no voxel within :data:`MASK_REACH_MM` of either target (another structure?)."""
    mask = envelope.mask
    for g in geo.sides.values():
        sl = region_slices(mask, g.target - MASK_REACH_MM, g.target + MASK_REACH_MM)
        if mask.array[sl].any():
            return
    raise MaskError(
        f"{name} holds no voxel within {MASK_REACH_MM:.0f} mm of either sacroplasty target: it is not "
        "a sacrum mask of this CT and landmarks (another structure or another scan?). Give the sacrum's "
        "label or segment (--label, --segment, or the segmentation selector)."
    )
