"""Masks and Slicer segmentations (``.seg.nrrd``) as :class:`~bonequality.volume.Volume` objects.

``.seg.nrrd`` files are read and written with the ``slicerio`` package (Slicer's own
format, with segment names, colours and layers); plain label maps go through SimpleITK.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import InputFileError, MaskError
from .outputs import atomic_file
from .volume import Volume, read_image

__all__ = ["read_mask", "read_segmentation", "write_segmentation"]

#: Default segment colours (RGB 0-1), by name.
SEGMENT_COLORS = {
    "VertebralBody": (0.89, 0.85, 0.55),
    "Cement": (0.20, 0.60, 1.00),
    "Leakage": (1.00, 0.15, 0.15),
}


def _is_seg(path: Path) -> bool:
    return path.name.lower().endswith(".seg.nrrd")


def read_segmentation(path: str | os.PathLike, *, name: str | None = None) -> dict[str, Volume]:
    """Read a Slicer ``.seg.nrrd`` into ``{segment name: boolean Volume}`` (LPS geometry)."""
    import slicerio

    path = Path(path)
    label = name or str(path)
    if not path.exists():
        raise InputFileError(f"{label}: file not found; check the path.")
    try:
        seg = slicerio.read_segmentation(str(path))
    except Exception as exc:  # slicerio raises several kinds on corrupt files
        raise InputFileError(f"{label}: cannot be read as a Slicer segmentation ({exc}).") from exc
    ijk_to_lps = np.asarray(seg["ijkToLPS"], dtype=float)
    lin = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(lin, axis=0)
    direction = lin / spacing
    origin = ijk_to_lps[:3, 3]
    voxels = np.asarray(seg["voxels"])  # slicerio: (i, j, k[, layer]) order
    out: dict[str, Volume] = {}
    for segment in seg["segments"]:
        layer = int(segment.get("layer", 0))
        vox = voxels[..., layer] if voxels.ndim == 4 else voxels
        mask = vox == int(segment["labelValue"])
        out[segment.get("name", segment["id"])] = Volume(
            np.ascontiguousarray(mask.transpose(2, 1, 0)), spacing, origin, direction
        )
    return out


def read_mask(
    path: str | os.PathLike,
    *,
    label: int | None = None,
    segment: str | None = None,
    name: str | None = None,
) -> Volume:
    """Read a mask: a label map (NRRD/NIfTI/...) or one segment of a ``.seg.nrrd``.

    Parameters
    ----------
    label : int, optional
        For label maps, the label value to select (default: every nonzero voxel).
    segment : str, optional
        For ``.seg.nrrd``, the segment name (default: the only segment, or the union if
        ``label`` is also None and several exist).
    """
    path = Path(path)
    what = name or f"mask {path}"
    if _is_seg(path):
        segments = read_segmentation(path, name=what)
        if not segments:
            raise MaskError(f"{what}: the segmentation holds no segments.")
        if segment is not None:
            if segment not in segments:
                raise MaskError(f"{what}: no segment named '{segment}'; it has {', '.join(segments)}.")
            vol = segments[segment]
        else:
            vols = list(segments.values())
            arr = np.zeros(vols[0].array.shape, dtype=bool)
            for v in vols:
                arr |= v.array
            vol = vols[0].with_array(arr)
    else:
        img = read_image(path, name=what)
        arr = img.array
        _require_label_map(arr, what)
        if label is not None:
            if not np.any(arr == label):
                present = np.unique(arr[arr != 0])[:20].tolist()
                raise MaskError(f"{what}: label {label} does not occur; labels present: {present}.")
            vol = img.with_array(arr == label)
        else:
            vol = img.with_array(arr != 0)
    if not vol.array.any():
        raise MaskError(f"{what} is empty (no voxels set); segment the structure first.")
    return vol


#: More distinct values than any label map holds (TotalSegmentator has about 120 labels).
MAX_LABELS = 1000


def _require_label_map(arr: np.ndarray, what: str) -> None:
    """Raise :class:`MaskError` unless ``arr`` holds non-negative whole label values."""
    if arr.dtype == bool:
        return
    lo = arr.min()
    if lo < 0 or (arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0)):
        raise MaskError(
            f"{what} is not a label map (values {float(lo):.0f} to {float(arr.max()):.0f}, not whole "
            "non-negative labels): is it the CT itself? Give a label map or a Slicer .seg.nrrd."
        )
    if np.unique(arr).size > MAX_LABELS:
        raise MaskError(
            f"{what} has more than {MAX_LABELS} distinct values, so it is not a label map; "
            "give a label map or a Slicer .seg.nrrd."
        )


def write_segmentation(
    path: str | os.PathLike,
    segments: Mapping[str, np.ndarray],
    reference: Volume,
    *,
    colors: Mapping[str, tuple[float, float, float]] | None = None,
) -> None:
    """Write boolean masks on ``reference``'s grid as a Slicer ``.seg.nrrd`` (atomically).

    Overlapping segments are stored in separate layers, as Slicer does.
    """
    import slicerio

    colors = {**SEGMENT_COLORS, **(colors or {})}
    names = list(segments)
    masks = [np.asarray(segments[n], dtype=bool) for n in names]
    for n, m in zip(names, masks):
        if m.shape != reference.array.shape:
            raise MaskError(
                f"segment {n}: shape {m.shape} does not match the reference image {reference.array.shape}"
            )
    # Greedy layer packing: a segment goes into the first layer it does not overlap.
    layers: list[np.ndarray] = []
    placement = []
    for m in masks:
        for li, used in enumerate(layers):
            if not np.any(used & m):
                used |= m
                placement.append(li)
                break
        else:
            layers.append(m.copy())
            placement.append(len(layers) - 1)
    shape_ijk = reference.array.shape[::-1]
    nlayers = max(1, len(layers))
    voxels = np.zeros((*shape_ijk, nlayers), dtype=np.uint8)
    seg_list = []
    for idx, (n, m, li) in enumerate(zip(names, masks, placement), start=1):
        voxels[..., li][m.transpose(2, 1, 0)] = idx
        seg_list.append(
            {
                "id": f"Segment_{idx}",
                "name": n,
                "labelValue": idx,
                "layer": li,
                "color": list(colors.get(n, (0.5, 0.5, 0.5))),
                "terminology": None,
            }
        )
    if nlayers == 1:
        voxels = voxels[..., 0]
    ijk_to_lps = reference.index_to_physical_matrix
    segmentation = {
        "voxels": voxels,
        "ijkToLPS": ijk_to_lps,
        "segments": [{k: v for k, v in s.items() if v is not None} for s in seg_list],
        "containedRepresentationNames": ["Binary labelmap"],
        "masterRepresentation": "Binary labelmap",
        "referenceImageExtentOffset": [0, 0, 0],
    }
    with atomic_file(path) as tmp:
        # slicerio decides the format from the full file name.
        target = tmp.with_name(tmp.name if _is_seg(tmp) else tmp.name + ".seg.nrrd")
        slicerio.write_segmentation(str(target), segmentation)
        if target != tmp:
            os.replace(target, tmp)
