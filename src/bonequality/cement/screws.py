"""Screws placed with cement (seed 002, "rebar and cement"): the length in contact with cement."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..errors import InputFileError
from ..imaging.grid import crop
from ..jsonfields import JsonFile
from ..landmarks import read_mrk_json_markups
from ..validation import SCREW_DIAMETER_RANGE_MM, check_inside, check_screw_diameter
from ..volume import Volume
from .options import CementOptions

__all__ = ["Screw", "ScrewContact", "read_screws", "screw_contact"]


@dataclass(frozen=True)
class Screw:
    """A screw as a line segment (LPS mm) with a diameter (mm)."""

    name: str
    entry: np.ndarray
    tip: np.ndarray
    diameter_mm: float

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(np.asarray(self.tip) - np.asarray(self.entry)))


@dataclass(frozen=True)
class ScrewContact:
    """Fraction of one screw's length whose surface touches cement (seed 002)."""

    name: str
    length_mm: float
    diameter_mm: float
    contact_fraction: float
    contact_length_mm: float

    def to_dict(self) -> dict:
        return asdict(self)


def read_screws(path: str | os.PathLike, *, diameter_mm: float = 7.0) -> tuple[Screw, ...]:
    """Screws from a Slicer ``.mrk.json``: each Line markup is one screw (entry, tip);
    in other markups consecutive defined control points pair up (entry, tip).

    A markup may state ``"screwDiameterMm"`` (a number in (0, 20] mm); otherwise
    ``diameter_mm`` applies. Points in RAS files are converted to LPS.

    Raises
    ------
    InputFileError
        The file is malformed (:func:`~bonequality.landmarks.read_mrk_json_markups`), a
        diameter is not a number in range, a Line markup has other than 2 points, a markup an
        odd number of points, a screw zero length, or no screw is given; each message names
        the file and the field.
    """
    diameter_mm = check_screw_diameter(diameter_mm, name="default screw diameter")
    label = f"screws file {path}"
    doc = JsonFile(path, "screws file", hint="Give each screw as a line (entry, tip) in mm.")
    screws = []
    for m_index, parsed in enumerate(read_mrk_json_markups(path, what="screws file")):
        markup, where = parsed.markup, f"markups[{m_index}]"
        placed = [(name, p) for name, p in parsed.points if p is not None]
        names = [name for name, _ in placed]
        pts = [p for _, p in placed]
        is_line = markup.get("type") == "Line"
        if (is_line and len(pts) not in (0, 2)) or len(pts) % 2:
            raise doc.fail(where, f"has {len(pts)} placed points; a screw is a line of 2 points (entry, tip)")
        diameter = diameter_mm
        if "screwDiameterMm" in markup:
            lo, hi = SCREW_DIAMETER_RANGE_MM
            diameter = doc.number(
                markup["screwDiameterMm"],
                f"{where}.screwDiameterMm",
                lo=lo,
                hi=hi,
                lo_inclusive=False,
                unit="mm",
            )
        for s in range(0, len(pts), 2):
            name = markup.get("name") if is_line else names[s]
            name = name or f"screw {len(screws) + 1}"
            if np.linalg.norm(pts[s + 1] - pts[s]) < 1e-6:
                raise InputFileError(f"{label}: screw '{name}' has zero length (entry = tip).")
            screws.append(Screw(name, pts[s], pts[s + 1], diameter))
    if not screws:
        raise InputFileError(f"{label}: holds no screw (no defined control points).")
    return tuple(screws)


def _contact_fraction(volume: Volume, cement: np.ndarray, screw: Screw, reach: float, step_mm: float):
    """Fraction of the screw axis within ``reach`` (mm) of a cement voxel centre."""
    n = max(2, math.ceil(screw.length_mm / step_mm) + 1)
    t = np.linspace(0.0, 1.0, n)
    axis = screw.entry[None] + t[:, None] * (screw.tip - screw.entry)[None]
    idx = volume.physical_to_index(axis)
    margin = np.ceil(reach / volume.spacing).astype(int) + 2
    lo = np.maximum(0, np.floor(idx.min(axis=0)).astype(int) - margin)
    hi = np.minimum(np.array(volume.shape_ijk) - 1, np.ceil(idx.max(axis=0)).astype(int) + margin)
    sl = (slice(lo[2], hi[2] + 1), slice(lo[1], hi[1] + 1), slice(lo[0], hi[0] + 1))
    sub_c = cement[sl]
    if not sub_c.any():
        return 0.0
    dist = ndimage.distance_transform_edt(~sub_c, sampling=volume.spacing[::-1])
    d = crop(volume, sl).with_array(dist.astype(np.float32)).sample(axis, order=1, fill=np.inf)
    return float(np.mean(d <= reach))


def screw_contact(
    volume: Volume,
    cement_mask: np.ndarray,
    screws: Sequence[Screw],
    *,
    options: CementOptions | None = None,
    step_mm: float = 0.5,
) -> tuple[ScrewContact, ...]:
    """Fraction of each screw's length in contact with cement (seed 002).

    A point of the screw axis is in contact when cement lies within the screw's radius
    plus ``screw_contact_margin_mm`` of it (3-D distance to the nearest cement voxel centre).

    Raises
    ------
    OutsideImageError
        A screw's entry or tip outside the image.
    """
    options = CementOptions() if options is None else options
    out = []
    cement = np.asarray(cement_mask, dtype=bool)
    for screw in screws:
        check_inside(
            volume,
            np.stack([screw.entry, screw.tip]),
            [f"{screw.name} entry", f"{screw.name} tip"],
            what="screw point",
        )
        reach = screw.diameter_mm / 2 + options.screw_contact_margin_mm
        fraction = _contact_fraction(volume, cement, screw, reach, step_mm)
        out.append(
            ScrewContact(screw.name, screw.length_mm, screw.diameter_mm, fraction, fraction * screw.length_mm)
        )
    return tuple(out)
