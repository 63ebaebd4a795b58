"""Masks and Slicer segmentations (``.seg.nrrd``) as :class:`~bonequality.volume.Volume` objects.

``.seg.nrrd`` files (Slicer's own format, with segment names, colours and layers) are
read with ``pynrrd`` and a typed reader of the segment fields (:func:`segment_metadata`)
and written with the ``slicerio`` package; plain label maps go through SimpleITK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputFileError, MaskError, OptionError
from .masks import select_label
from .outputs import atomic_file
from .validation import check_input_file, closest_name, show
from .volume import Volume, read_image

__all__ = ["SegmentInfo", "read_mask", "read_segmentation", "segment_metadata", "write_segmentation"]

#: Default segment colours (RGB 0-1), by name.
SEGMENT_COLORS = {
    "VertebralBody": (0.89, 0.85, 0.55),
    "Cement": (0.20, 0.60, 1.00),
    "Leakage": (1.00, 0.15, 0.15),
}


def _is_seg(path: Path) -> bool:
    return path.name.lower().endswith(".seg.nrrd")


#: At most this many segments are read from one ``.seg.nrrd``.
MAX_SEGMENTS = 10_000
#: NRRD ``space`` values (as Slicer and pynrrd write them) -> sign flips to LPS.
_SPACES = {
    "left-posterior-superior": (1.0, 1.0, 1.0),
    "lps": (1.0, 1.0, 1.0),
    "right-anterior-superior": (-1.0, -1.0, 1.0),
    "ras": (-1.0, -1.0, 1.0),
}
_INT = re.compile(r"[+-]?\d{1,12}")
_SEGMENT_KEY = re.compile(r"Segment(\d{1,6})_(\w+)")


@dataclass(frozen=True)
class SegmentInfo:
    """What a ``.seg.nrrd`` header says of one segment (``Segment<N>_<Field>``, typed).

    Attributes
    ----------
    index : int
        ``N`` of the header keys.
    id, name : str
        ``Segment<N>_ID`` and ``_Name`` (the name defaults to the ID).
    label_value : int
        ``_LabelValue``: the voxel value of the segment in its layer (>= 1).
    layer : int
        ``_Layer``: which stored layer holds it (0 for a 3-D file).
    extent : tuple of 6 int or None
        ``_Extent`` (i0 i1 j0 j1 k0 k1), as given; not used to read the voxels.
    """

    index: int
    id: str
    name: str
    label_value: int
    layer: int
    extent: tuple[int, ...] | None = None


def _header_int(value, where: str, what: str, lo: int, hi: int) -> int:
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _INT.fullmatch(text) or not lo <= int(text) <= hi:
        raise InputFileError(
            f"{what}: {where} is {show(value)}; it must be a whole number from {lo} to {hi}. "
            "Save the segmentation from Slicer again."
        )
    return int(text)


def segment_metadata(header: Mapping, *, layers: int, max_label: int, what: str) -> list[SegmentInfo]:
    """The segments a ``.seg.nrrd`` header describes, checked against the stored voxels.

    Parameters
    ----------
    header : mapping
        The NRRD header (pynrrd's dict; Slicer's fields are ``Segment<N>_<Field>`` text).
    layers : int
        How many layers the file stores (1 for a 3-D file).
    max_label : int
        The largest value the voxel type holds.
    what : str
        How the file is called in messages.

    Raises
    ------
    InputFileError
        A ``_LabelValue`` or ``_Layer`` that is not a whole number or points past what is
        stored, a malformed ``_Extent``, a name or ID that is not text, too many segments.
    MaskError
        Two segments with the same name (which one would be meant?).
    """
    fields: dict[int, dict[str, object]] = {}
    for key, value in header.items():
        m = _SEGMENT_KEY.fullmatch(key) if isinstance(key, str) else None
        if m:
            fields.setdefault(int(m[1]), {})[m[2]] = value
    if len(fields) > MAX_SEGMENTS:
        raise InputFileError(f"{what}: the header describes {len(fields)} segments; at most {MAX_SEGMENTS}.")
    out: list[SegmentInfo] = []
    for index in sorted(fields):
        f, key = fields[index], f"Segment{index}"
        for field in ("ID", "Name"):
            if field in f and not isinstance(f[field], str):
                raise InputFileError(f"{what}: {key}_{field} is {show(f[field])}; it must be text.")
        seg_id = str(f.get("ID", key))
        name = str(f.get("Name", seg_id))
        value = _header_int(f.get("LabelValue", "1"), f"{key}_LabelValue", what, 1, max_label)
        layer = _header_int(f.get("Layer", "0"), f"{key}_Layer ({name!r})", what, 0, layers - 1)
        extent = None
        if "Extent" in f:
            parts = f["Extent"].split() if isinstance(f["Extent"], str) else []
            if len(parts) != 6 or not all(_INT.fullmatch(p) for p in parts):
                raise InputFileError(
                    f"{what}: {key}_Extent is {show(f['Extent'])}; it must be 6 whole numbers "
                    "(i0 i1 j0 j1 k0 k1). Save the segmentation from Slicer again."
                )
            extent = tuple(int(p) for p in parts)
        out.append(SegmentInfo(index, seg_id, name, value, layer, extent))
    seen: dict[str, int] = {}
    for info in out:
        if info.name in seen:
            raise MaskError(
                f"{what}: two segments are named {info.name!r} (Segment{seen[info.name]} and "
                f"Segment{info.index}); rename one in Slicer so that the segment meant is clear."
            )
        seen[info.name] = info.index
    return out


def _geometry(header: Mapping, spatial: list[int], what: str) -> tuple[np.ndarray, np.ndarray]:
    """(ijk -> LPS 3x3 matrix, origin) from the NRRD ``space``, ``space directions`` and ``space origin``."""
    space = header.get("space", "left-posterior-superior")
    flip = _SPACES.get(space.lower()) if isinstance(space, str) else None
    if flip is None:
        raise InputFileError(
            f"{what}: NRRD space {show(space)} is not LPS or RAS; save it from Slicer again."
        )
    try:
        dirs = np.asarray(header.get("space directions"), dtype=float)[spatial]
        origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float).reshape(3)
        lin = dirs.T.reshape(3, 3)
    except (TypeError, ValueError, IndexError):
        raise InputFileError(
            f"{what}: the NRRD space directions or origin are not 3-D; save it again."
        ) from None
    return np.diag(flip) @ lin, np.asarray(flip) * origin


def _read_nrrd(path: Path, what: str):
    """(voxels, header) of a ``.seg.nrrd``: pynrrd's, any failure as one line."""
    import nrrd

    try:
        with open(path, "rb") as fh:
            header = nrrd.read_header(fh)
            return nrrd.read_data(header, fh, filename=str(path)), header
    except Exception as exc:  # pynrrd, zlib, numpy raise many kinds on corrupt files
        text = " ".join(str(exc).split())[:150] or type(exc).__name__
        raise InputFileError(
            f"{what}: cannot be read as a Slicer segmentation ({text}). Save it from Slicer as .seg.nrrd."
        ) from None


def read_segmentation(path: str | os.PathLike, *, name: str | None = None) -> dict[str, Volume]:
    """Read a Slicer ``.seg.nrrd`` into ``{segment name: boolean Volume}`` (LPS geometry).

    A 3-D file holds one layer; a 4-D file (``kinds: list domain domain domain``) one
    layer per entry of its first axis, as Slicer writes overlapping segments. The
    header's segment fields are checked by :func:`segment_metadata`.

    Raises
    ------
    InputFileError
        Missing, a folder, unreadable, not a 3-D or layered segmentation, or malformed
        segment fields.
    MaskError
        Two segments with the same name.
    """
    path = Path(path)
    what = name or str(path)
    check_input_file(path, what, expect="the .seg.nrrd file")
    voxels, header = _read_nrrd(path, what)
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * voxels.ndim)]
    if voxels.ndim == 3:
        layers, spatial = voxels[np.newaxis], [0, 1, 2]
    elif voxels.ndim == 4 and kinds[:1] == ["list"]:
        layers, spatial = voxels, [1, 2, 3]
    else:
        raise InputFileError(
            f"{what}: holds a {voxels.ndim}-D array (kinds {' '.join(kinds)}); a Slicer segmentation is 3-D "
            "or 4-D with its layers first (kinds: list domain domain domain)."
        )
    if voxels.dtype.kind not in "iub":
        raise InputFileError(
            f"{what}: voxel type {voxels.dtype} is not a label type; save it from Slicer again."
        )
    max_label = 1 if voxels.dtype.kind == "b" else int(np.iinfo(voxels.dtype).max)
    infos = segment_metadata(header, layers=layers.shape[0], max_label=max_label, what=what)
    lin, origin = _geometry(header, spatial, what)
    spacing = np.linalg.norm(lin, axis=0)
    out: dict[str, Volume] = {}
    for info in infos:
        mask = np.ascontiguousarray((layers[info.layer] == info.label_value).transpose(2, 1, 0))
        try:
            out[info.name] = Volume(mask, spacing, origin, lin / np.where(spacing > 0, spacing, 1.0))
        except InputFileError as exc:
            raise InputFileError(f"{what}: {exc}; save it from Slicer again.") from None
    return out


def read_mask(
    path: str | os.PathLike,
    *,
    label: int | None = None,
    segment: str | None = None,
    name: str | None = None,
    label_option: str = "--label",
    segment_option: str = "--segment",
) -> Volume:
    """Read a mask: a label map (NRRD/NIfTI/...) or one segment of a ``.seg.nrrd``.

    Parameters
    ----------
    label : int, optional
        For label maps, the label value to select (see :func:`bonequality.masks.select_label`).
    segment : str, optional
        For ``.seg.nrrd``, the segment name (default: the only segment, or the union if
        several exist).
    name : str, optional
        How the mask is called in messages (default ``"mask <path>"``).
    label_option, segment_option : str
        How ``label`` and ``segment`` are called in messages (the CLI's option names).

    Raises
    ------
    OptionError
        ``label`` given for a ``.seg.nrrd`` or ``segment`` for a label map: they do not apply.
    InputFileError, MaskError
        An unreadable file or folder, no such segment or label, an empty mask.
    """
    path = Path(path)
    what = name or f"mask {path}"
    check_input_file(path, what, expect="the mask file (a label map or a Slicer .seg.nrrd)")
    if _is_seg(path):
        if label is not None:
            raise OptionError(
                f"{label_option} {label} does not apply to {what}: it is a Slicer .seg.nrrd, whose "
                f"segments are chosen by name; give {segment_option} NAME instead."
            )
        vol = _one_segment(read_segmentation(path, name=what), segment, what)
    else:
        if segment is not None:
            raise OptionError(
                f"{segment_option} {segment!r} does not apply to {what}: it is a label map, whose "
                f"structures are chosen by value; give {label_option} N instead."
            )
        img = read_image(path, name=what)
        arr = img.array
        _require_label_map(arr, what)
        # Label 0, a missing label, or several labels without one chosen: bonequality.masks.
        vol = select_label(img, label, what)
    if not vol.array.any():
        raise MaskError(f"{what} is empty (no voxels set); segment the structure first.")
    return vol


def _one_segment(segments: dict[str, Volume], segment: str | None, what: str) -> Volume:
    """The segment named ``segment`` (None: the only one, or the union of all)."""
    if not segments:
        raise MaskError(f"{what}: the segmentation holds no segments.")
    if segment is not None:
        if segment not in segments:
            near = closest_name(segment, segments)
            hint = f" (did you mean {near!r}?)" if near else ""
            raise MaskError(
                f"{what}: no segment named {segment!r}{hint}; it has {', '.join(map(repr, segments))}."
            )
        return segments[segment]
    vols = list(segments.values())
    arr = np.zeros(vols[0].array.shape, dtype=bool)
    for v in vols:
        arr |= v.array
    return vols[0].with_array(arr)


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
    # Slicer's layout: layers along the first axis ("kinds: list domain domain domain").
    voxels = np.zeros((nlayers, *shape_ijk), dtype=np.uint8)
    seg_list = []
    for idx, (n, m, li) in enumerate(zip(names, masks, placement), start=1):
        voxels[li][m.transpose(2, 1, 0)] = idx
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
        voxels = voxels[0]
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
