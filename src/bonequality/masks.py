"""What a mask must be to stand for a structure: one label, not the background, a plausible size.

The rules every entry point shares (the CLI, batch and the Slicer logics reach them through
:func:`bonequality.segmentation.read_mask`, :meth:`bonequality.volume.Volume.mask_on` and
:func:`bonequality.imaging.body.as_mask`):

* **A label is a structure.** Label 0 is the background of every label map and is never
  a structure; a label map holding several labels (TotalSegmentator's multi-label output)
  needs one chosen: the message lists the labels present with their volumes.
* **A plausible size** (CLINICAL.md section 5, adult anatomy), measured in ml on the CT
  grid, :data:`PLAUSIBLE_ML`:

  - vertebral body (``body_mask``): **5-120 ml**. An adult lumbar body is 25-50 ml, an
    upper thoracic one about 6-10 ml; 120 ml leaves room for a large or osteophytic
    lumbar body. Below 5 ml the mask is a fragment (or a cervical body, which the
    analyses do not address); above 120 ml it holds more than one body or another bone.
  - whole vertebra (``vertebra_mask``, body with posterior elements): **8-180 ml**. A
    whole lumbar vertebra is about 60-110 ml (TotalSegmentator's L1-L5 of the shared
    3 mm CT: 60-67 ml), an upper thoracic one about 15-25 ml; a hip bone (about 375 ml)
    or the sacrum (about 200 ml) is refused.
  - sacrum (``sacrum_mask``): **50-1000 ml**. An adult sacrum is about 100-300 ml (the
    shared CT's: 210 ml). Below 50 ml it is a vertebra or a fragment. The upper bound is
    loose on purpose: a mask drawn generously around the sacrum (the block sacrum phantom
    is 900 ml) passes; a map of the whole pelvis or of several bones (above 1 l) does not.
"""

from __future__ import annotations

import numpy as np

from .errors import MaskError

__all__ = [
    "PLAUSIBLE_ML",
    "check_label_value",
    "check_mask_volume",
    "describe_labels",
    "labels_present",
    "require_one_label",
    "select_label",
]

#: Mask kind -> (how it is called, (lowest, highest) plausible volume in ml); module docstring.
PLAUSIBLE_ML = {
    "body_mask": ("a vertebral body", (5.0, 120.0)),
    "vertebra_mask": ("a whole vertebra", (8.0, 180.0)),
    "sacrum_mask": ("a sacrum", (50.0, 1000.0)),
}

#: At most this many labels are listed in a message.
_LISTED = 12


def labels_present(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nonzero values of a label array and their voxel counts (only set voxels are sorted)."""
    values = np.asarray(arr)[np.asarray(arr) != 0]
    return np.unique(values, return_counts=True)


def describe_labels(values, counts, voxel_mm3: float) -> str:
    """``"[1, 2] (800, 820 voxels; 60.1, 61.6 ml)"`` for the first :data:`_LISTED` labels."""
    shown = [_fmt(v) for v in values[:_LISTED]]
    more = f" and {len(values) - _LISTED} more" if len(values) > _LISTED else ""
    voxels = ", ".join(str(int(c)) for c in counts[:_LISTED])
    ml = ", ".join(f"{c * voxel_mm3 / 1000:.1f}" for c in counts[:_LISTED])
    return f"[{', '.join(shown)}]{more} ({voxels} voxels; {ml} ml)"


def _fmt(value) -> str:
    v = float(value)
    return f"{v:.0f}" if v.is_integer() else f"{v:g}"


def check_label_value(label, what: str) -> int:
    """``label`` as a positive whole number; label 0 (the background) and others are refused.

    Raises
    ------
    MaskError
        Naming ``what`` and saying which labels are structures.
    """
    try:
        value = float(label)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or not value.is_integer() or value < 0:
        raise MaskError(f"{what}: label {label!r} is not a whole number >= 1; give the structure's label.")
    if value == 0:
        raise MaskError(
            f"{what}: label 0 is the background of a label map, not a structure; give the label of the "
            "structure (--label N with N >= 1)."
        )
    return int(value)


def require_one_label(arr: np.ndarray, voxel_mm3: float, what: str) -> None:
    """Refuse a label map holding several labels: the message lists them and asks for one."""
    if arr.dtype == bool:
        return
    values, counts = labels_present(arr)
    if len(values) > 1:
        raise MaskError(
            f"{what} holds {len(values)} labels ({describe_labels(values, counts, voxel_mm3)}); it is a "
            "multi-label map, so choose the structure's label: --label N (batch: the label column)."
        )


def select_label(volume, label, what: str):
    """The structure of a label-map :class:`~bonequality.volume.Volume` as a boolean Volume.

    Parameters
    ----------
    volume : Volume
        A label map (whole non-negative values).
    label : int, optional
        The structure's label; None: the map must hold a single nonzero label.
    what : str
        How the mask is called in messages (its file).

    Raises
    ------
    MaskError
        Label 0 or a label that does not occur (the labels present are listed), or no
        label given for a map of several.
    """
    arr = volume.array
    if label is None:
        require_one_label(arr, volume.voxel_volume_mm3, what)
        return volume.with_array(arr != 0)
    value = check_label_value(label, what)
    selected = arr == value
    if not selected.any():
        values, counts = labels_present(arr)
        present = describe_labels(values, counts, volume.voxel_volume_mm3) if len(values) else "none"
        raise MaskError(f"{what}: label {value} does not occur; labels present: {present}.")
    return volume.with_array(selected)


def check_mask_volume(mask: np.ndarray, voxel_mm3: float, kind: str, name: str) -> float:
    """The volume (ml) of a boolean mask on the CT grid, refused outside :data:`PLAUSIBLE_ML`.

    Parameters
    ----------
    mask : bool ndarray
        On the CT grid.
    voxel_mm3 : float
        The CT's voxel volume, mm^3.
    kind : str
        A key of :data:`PLAUSIBLE_ML`; another kind is not checked.
    name : str
        How the mask is called in messages.

    Raises
    ------
    MaskError
        Naming the mask, the measured ml and the plausible range.
    """
    ml = float(np.count_nonzero(mask)) * float(voxel_mm3) / 1000.0
    if kind not in PLAUSIBLE_ML:
        return ml
    what, (lo, hi) = PLAUSIBLE_ML[kind]
    if not lo <= ml <= hi:
        size = "small" if ml < lo else "large"
        raise MaskError(
            f"{name} is {ml:.1f} ml on the CT grid, too {size} for {what} ({lo:g}-{hi:g} ml): is it the "
            "right structure (or the right label), made on this CT?"
        )
    return ml
