"""Synthetic phantoms with analytic ground truth.

Each phantom is an analytic HU function of LPS position, evaluated at the voxel centres
of whatever grid is asked for. The anatomy and its ground truth therefore stay the same
in LPS whatever the spacing or direction matrix, which is how the anisotropic and
oblique variants are made and tested.

A phantom generator returns a :class:`Phantom`; :func:`write_phantom` writes the image,
``<stem>.mrk.json`` (where landmarks apply), ``<stem>.truth.json`` and any masks
``<stem>.<mask>.nrrd``, all atomically.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..landmarks import Landmarks, write_mrk_json
from ..outputs import atomic_files, write_json
from ..volume import Volume

__all__ = [
    "ANISOTROPIC_SPACING",
    "GENERATORS",
    "Phantom",
    "evaluate_on_grid",
    "make_phantom",
    "oblique_direction",
    "phantom_paths",
    "rotation_matrix",
    "write_phantom",
]

#: Spacing (mm, x y z) of the anisotropic variants: fine in-plane, thick slices.
ANISOTROPIC_SPACING = (0.7, 0.9, 1.6)

#: name -> "module:function" of the generators; each accepts keyword-only
#: ``spacing``, ``direction`` and its own options, and returns a Phantom.
GENERATORS: dict[str, str] = {
    "pelvis": "bonequality.phantoms.pelvis:make_pelvis",
    "vertebra": "bonequality.phantoms.vertebra:make_vertebra",
    "cemented-vertebra": "bonequality.phantoms.cemented:make_cemented_vertebra",
    "sacrum-block": "bonequality.phantoms.sacrum_block:make_sacrum_block",
}


@dataclass(frozen=True, eq=False)
class Phantom:
    """A generated phantom.

    Attributes
    ----------
    name : str
    volume : Volume
        CT in HU.
    truth : dict
        Analytic ground truth (JSON-able; LPS mm, HU, ml).
    landmarks : Landmarks, optional
    masks : mapping str -> bool ndarray on ``volume``'s grid
        E.g. ``"body"``, ``"vertebra"``.
    """

    name: str
    volume: Volume
    truth: dict
    landmarks: Landmarks | None = None
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)


def rotation_matrix(axis, angle_deg: float) -> np.ndarray:
    """Rotation by ``angle_deg`` about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    t = np.deg2rad(angle_deg)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


def oblique_direction() -> np.ndarray:
    """The direction matrix of the oblique variants: a tilted, rolled gantry (about 16°)."""
    return rotation_matrix((0.3, 1.0, 0.2), 16.0)


def evaluate_on_grid(
    hu: Callable[[np.ndarray], np.ndarray],
    *,
    center,
    extent_mm,
    spacing=(0.8, 0.8, 0.8),
    direction=None,
    dtype=np.int16,
    chunk: int = 2_000_000,
) -> Volume:
    """Evaluate ``hu(points_lps (N, 3)) -> (N,)`` at the voxel centres of a grid.

    The grid is centred on ``center`` (LPS) with axes along ``direction``'s columns and
    large enough to contain the axis-aligned LPS box ``extent_mm`` (x, y, z) around it.
    """
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=float)
    spacing = np.asarray(spacing, dtype=float)
    extent = np.asarray(extent_mm, dtype=float)
    # Extent of the LPS box measured along the grid axes.
    extent_grid = np.abs(direction.T) @ extent
    n = np.maximum(1, np.ceil(extent_grid / spacing)).astype(int)
    origin = np.asarray(center, dtype=float) - direction @ ((n - 1) / 2 * spacing)
    geom = Volume(np.zeros((1, 1, 1), dtype=np.uint8), spacing, origin, direction)
    kk, jj, ii = np.meshgrid(np.arange(n[2]), np.arange(n[1]), np.arange(n[0]), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)
    out = np.empty(ijk.shape[0], dtype=np.float32)
    for s in range(0, ijk.shape[0], chunk):
        out[s : s + chunk] = hu(geom.index_to_physical(ijk[s : s + chunk]))
    arr = out.reshape(n[2], n[1], n[0])
    if np.issubdtype(dtype, np.integer):
        arr = np.round(arr)
    return Volume(arr.astype(dtype), spacing, origin, direction)


def make_phantom(name: str, **options) -> Phantom:
    """Generate the phantom ``name`` (a key of :data:`GENERATORS`)."""
    if name not in GENERATORS:
        raise InputFileError(f"unknown phantom '{name}'; choose one of {', '.join(GENERATORS)}")
    module, func = GENERATORS[name].split(":")
    return getattr(importlib.import_module(module), func)(**options)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def phantom_paths(out: str | os.PathLike, phantom: Phantom) -> dict[str, Path]:
    """The files :func:`write_phantom` writes for ``out``: image, truth, landmarks, masks."""
    out = Path(out)
    stem = _stem(out)
    paths = {"image": out, "truth": out.with_name(f"{stem}.truth.json")}
    if phantom.landmarks is not None:
        paths["landmarks"] = out.with_name(f"{stem}.mrk.json")
    for m in phantom.masks:
        paths[f"mask:{m}"] = out.with_name(f"{stem}.{m}.nrrd")
    return paths


def write_phantom(
    phantom: Phantom, out: str | os.PathLike, *, coordinate_system: str = "LPS"
) -> dict[str, Path]:
    """Write the phantom's files atomically (all or none). Returns what was written."""
    paths = phantom_paths(out, phantom)
    keys = list(paths)
    with atomic_files(*paths.values()) as temps:
        tmp = dict(zip(keys, temps))
        import SimpleITK as sitk

        sitk.WriteImage(phantom.volume.to_sitk(), str(tmp["image"]), True)
        truth = {"phantom": phantom.name, **phantom.truth}
        write_json(tmp["truth"], truth)
        if phantom.landmarks is not None:
            write_mrk_json(tmp["landmarks"], phantom.landmarks, coordinate_system=coordinate_system)
        for m, mask in phantom.masks.items():
            sitk.WriteImage(
                phantom.volume.with_array(np.asarray(mask, dtype=np.uint8)).to_sitk(),
                str(tmp[f"mask:{m}"]),
                True,
            )
    return paths
