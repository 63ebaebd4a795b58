"""Landmarks: one schema for the whole extension, ``.mrk.json`` I/O and validation.

The schema is ``CLINICAL.md`` section 1 as a data table. Points are LPS millimetres in
the library; ``.mrk.json`` files in either coordinate system Slicer writes (LPS or RAS)
are read, and either can be written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LandmarkError
from .frames import lps_to_ras, ras_to_lps
from .jsonfields import JsonFile
from .outputs import atomic_file
from .validation import check_inside, closest_name

__all__ = [
    "ANALYSES",
    "SCHEMA",
    "LandmarkSpec",
    "Landmarks",
    "MarkupPoints",
    "read_mrk_json",
    "read_mrk_json_markups",
    "required_labels",
    "schema_table",
    "write_mrk_json",
]

#: Analyses that use landmarks.
ANALYSES = ("corridors", "sacroplasty")


@dataclass(frozen=True)
class LandmarkSpec:
    """One row of the landmark schema.

    Attributes
    ----------
    label : str
        Control-point label in the markups node / ``.mrk.json``.
    description : str
        Where to place it (shown to the user during guided placement).
    used_by : tuple of str
        Analyses that require it (subset of :data:`ANALYSES`).
    purpose : str
        What it is used for (CLINICAL.md's "used by" column).
    optional : bool
        True when an analysis can do without it.
    """

    label: str
    description: str
    used_by: tuple[str, ...]
    purpose: str
    optional: bool = False


def _sides(label: str, description: str, used_by: tuple[str, ...], purpose: str, **kw) -> list[LandmarkSpec]:
    return [
        LandmarkSpec(f"{label}_{s}", description.format(side=side), used_by, purpose, **kw)
        for s, side in (("L", "left"), ("R", "right"))
    ]


_C = ("corridors",)
_S = ("sacroplasty",)
_CS = ("corridors", "sacroplasty")

#: CLINICAL.md section 1, in guided-placement order.
SCHEMA: tuple[LandmarkSpec, ...] = (
    *[
        LandmarkSpec(
            "S1_body_top",
            "above the middle of the S1 vertebral body (superior endplate centre)",
            _CS,
            "S1 corridor",
        ),
        *_sides("S1_foramen_sup", "superior margin of the {side} S1 neuroforamen", _CS, "S1 corridor"),
        *_sides(
            "SI_joint_ventral_sup",
            "upper ventral border of the {side} sacroiliac joint at the level of the S1 upper plate",
            _CS,
            "S1 corridor",
        ),
        *_sides("S1_foramen_inf", "lower margin of the {side} S1 neuroforamen", _C, "S2 corridor"),
        *_sides("S2_foramen_sup", "upper margin of the {side} S2 neuroforamen", _C, "S2 corridor"),
        *_sides(
            "S2_body_ventral",
            "ventral cortical edge of the S2 body, on the parasagittal plane of the {side} S2 foramina",
            _C,
            "S2 corridor",
        ),
        LandmarkSpec(
            "S2_body_ventral_mid",
            "middle of the S2 body at its ventral cortex (midline)",
            _C,
            "S2 safety margin",
        ),
        LandmarkSpec("L5_body_center", "centre of the L5 vertebral body", _C, "L5 densitometry"),
        LandmarkSpec(
            "S1_corner_PS", "posterosuperior corner of S1 on the midsagittal plane", _S, "sacroplasty"
        ),
        LandmarkSpec(
            "S1_corner_AS", "anterosuperior corner of S1 on the midsagittal plane", _S, "sacroplasty"
        ),
        LandmarkSpec(
            "S1_corner_PI", "posteroinferior corner of S1 on the midsagittal plane", _S, "sacroplasty"
        ),
        LandmarkSpec(
            "S1_corner_AI", "anteroinferior corner of S1 on the midsagittal plane", _S, "sacroplasty"
        ),
        *_sides(
            "SI_joint_dorsal",
            "a dorsal point of the {side} SI joint line on the axial plane of the S1 upper plate",
            _S,
            "sacroplasty",
        ),
        LandmarkSpec("S3_body_center", "centre of the S3 body", _S, "sacroplasty"),
        *_sides(
            "sacroplasty_target",
            "optional: the {side} needle target, placed directly instead of computed",
            _S,
            "sacroplasty",
            optional=True,
        ),
    ],
)

_BY_LABEL = {s.label: s for s in SCHEMA}


def schema_table():
    """The schema as a :class:`pandas.DataFrame` (label, description, used_by, purpose, optional)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "label": s.label,
                "description": s.description,
                "used_by": ",".join(s.used_by),
                "purpose": s.purpose,
                "optional": s.optional,
            }
            for s in SCHEMA
        ]
    )


def required_labels(*analyses: str) -> tuple[str, ...]:
    """Labels the given analyses need (schema order, optional ones excluded)."""
    unknown = [a for a in analyses if a not in ANALYSES]
    if unknown:
        raise ValueError(f"unknown analysis {unknown}; known: {ANALYSES}")
    return tuple(s.label for s in SCHEMA if not s.optional and set(s.used_by) & set(analyses))


def spec(label: str) -> LandmarkSpec | None:
    """The schema row for ``label`` (None for labels outside the schema)."""
    return _BY_LABEL.get(label)


class Landmarks(Mapping[str, np.ndarray]):
    """Labelled points in LPS mm, as read from a markups node or file.

    Keeps every entry in order, so duplicates and unplaced (undefined) points can be
    reported by :meth:`validate`. As a mapping, each label maps to its first defined point.

    Parameters
    ----------
    entries : iterable of (label, point) pairs
        ``point`` is an LPS (3,) array-like, or None for a pre-labelled point not yet placed.
    source : str
        How to name this set in messages (a file path or a node name).
    """

    def __init__(self, entries: Iterable[tuple[str, object]] = (), *, source: str = "landmarks"):
        self.source = source
        self.entries: list[tuple[str, np.ndarray | None]] = []
        for label, point in entries:
            p = None if point is None else np.asarray(point, dtype=float).reshape(3)
            self.entries.append((str(label), p))
        self._first: dict[str, np.ndarray] = {}
        for label, p in self.entries:
            if p is not None and label not in self._first:
                self._first[label] = p

    @classmethod
    def from_dict(cls, points: Mapping[str, object], *, source: str = "landmarks") -> Landmarks:
        """From ``{label: LPS point}``."""
        return cls(points.items(), source=source)

    def __getitem__(self, label: str) -> np.ndarray:
        try:
            return self._first[label]
        except KeyError:
            raise LandmarkError(
                f"{self.source}: landmark {self._near_miss(label, self._first)} is missing; "
                f"place it ({_where(label)}).",
                [label],
            ) from None

    def __contains__(self, label: object) -> bool:
        return label in self._first

    def get(self, label: str, default=None):
        """The first defined point of ``label``, or ``default`` (no error for a missing label)."""
        return self._first.get(label, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def __repr__(self) -> str:
        return f"Landmarks({len(self)} points from {self.source})"

    def replaced(self, label: str, point) -> Landmarks:
        """A copy with ``label`` moved to ``point`` (appended if absent)."""
        out, done = [], False
        for lab, p in self.entries:
            if lab == label and not done:
                out.append((lab, point))
                done = True
            elif lab != label:
                out.append((lab, p))
        if not done:
            out.append((label, point))
        return Landmarks(out, source=self.source)

    def to_dict(self) -> dict[str, list[float]]:
        """``{label: [x, y, z]}`` in LPS mm (first defined point per label)."""
        return {k: v.tolist() for k, v in self._first.items()}

    def validate(self, labels: Iterable[str], *, volume=None) -> None:
        """Check ``labels`` are each present once, finite, and (with ``volume``) inside the image.

        Raises
        ------
        LandmarkError
            Naming *every* missing, duplicated, unplaced or non-finite label at once.
        OutsideImageError
            Naming every landmark outside ``volume``.
        """
        labels = list(labels)
        counts: dict[str, int] = {}
        for lab, p in self.entries:
            if p is not None:
                counts[lab] = counts.get(lab, 0) + 1
        problems, bad = [], []
        missing = [lab for lab in labels if counts.get(lab, 0) == 0]
        if missing:
            problems.append("missing: " + ", ".join(self._near_miss(lab, counts) for lab in missing))
            bad += missing
        dups = [lab for lab in labels if counts.get(lab, 0) > 1]
        if dups:
            problems.append("placed more than once: " + ", ".join(f"{d} ({counts[d]}x)" for d in dups))
            bad += dups
        nonfinite = [
            lab for lab in labels if lab in self._first and not np.all(np.isfinite(self._first[lab]))
        ]
        if nonfinite:
            problems.append("non-finite coordinates: " + ", ".join(nonfinite))
            bad += nonfinite
        if problems:
            hint = "; ".join(f"{lab}: {_where(lab)}" for lab in missing[:3])
            raise LandmarkError(
                f"{self.source}: "
                + "; ".join(problems)
                + (f". Place them ({hint})." if hint else ". Fix them."),
                bad,
            )
        if volume is not None:
            check_inside(
                volume, [self._first[lab] for lab in labels], labels, what="landmark", source=self.source
            )

    @staticmethod
    def _near_miss(label: str, placed: Iterable[str]) -> str:
        """``label``, with ``(found 's1_body_top ': did you mean 'S1_body_top'?)`` when a placed label
        outside the schema differs from it only in case, spaces or a letter or two."""
        found = closest_name(label, [p for p in placed if spec(p) is None])
        return f"{label} (found {found!r}: did you mean {label!r}?)" if found else label

    @classmethod
    def read(cls, path: str | os.PathLike) -> Landmarks:
        """Read a ``.mrk.json`` file (see :func:`read_mrk_json`)."""
        return read_mrk_json(path)

    def write(self, path: str | os.PathLike, *, coordinate_system: str = "LPS") -> None:
        """Write a ``.mrk.json`` file (see :func:`write_mrk_json`)."""
        write_mrk_json(path, self, coordinate_system=coordinate_system)


def _where(label: str) -> str:
    s = spec(label)
    return s.description if s else "not in the landmark schema"


@dataclass(frozen=True)
class MarkupPoints:
    """One markup of a ``.mrk.json`` file with its control points in LPS.

    Attributes
    ----------
    markup : dict
        The markup's JSON object (``type``, ``name``, ... as Slicer wrote them).
    points : tuple of (label, (3,) ndarray or None)
        Control points in file order; None for points not yet placed.
    """

    markup: dict
    points: tuple[tuple[str, np.ndarray | None], ...]


#: The sentence that ends every message about a malformed ``.mrk.json`` file.
MRK_HINT = "Save the markups node from Slicer as .mrk.json (or fix the file)."
#: ``positionStatus`` values Slicer writes; only ``"defined"`` points are placed.
POSITION_STATUSES = ("defined", "undefined", "preview")


def read_mrk_json_markups(path: str | os.PathLike, *, what: str = "landmarks file") -> list[MarkupPoints]:
    """Parse a Slicer ``.mrk.json`` file: every markup with its control points in LPS.

    Handles ``coordinateSystem`` ``"LPS"`` and ``"RAS"`` (Slicer writes either) and control
    points whose ``positionStatus`` is not ``"defined"`` (pre-labelled, not yet placed).
    ``what`` names the file in error messages.

    Raises
    ------
    InputFileError
        Missing file, a folder, invalid JSON, or a field of the wrong kind, naming the field
        (``markups[0].controlPoints[2].position must be 3 numbers ...``): ``markups`` and
        ``controlPoints`` must be lists of objects, ``label`` text, ``coordinateSystem``
        LPS or RAS, ``coordinateUnits`` mm, ``position`` of a defined point 3 finite numbers.
    """
    doc = JsonFile.load(path, what, expect="the .mrk.json file", hint=MRK_HINT)
    top = doc.object(doc.data, "the file's top level")
    markups = doc.array(doc.get(top, "markups", "the file"), "markups")
    return [_markup(doc, m, f"markups[{n}]") for n, m in enumerate(markups)]


def _markup(doc: JsonFile, markup, where: str) -> MarkupPoints:
    """One markup of a ``.mrk.json`` file, typed (see :func:`read_mrk_json_markups`)."""
    markup = doc.object(markup, where)
    system = doc.string(
        markup.get("coordinateSystem", "LPS"),
        f"{where}.coordinateSystem",
        choices=("LPS", "RAS"),
        casefold=True,
    )
    doc.string(markup.get("coordinateUnits", "mm"), f"{where}.coordinateUnits", choices=("mm",))
    for key in ("type", "name"):
        if markup.get(key) is not None:
            doc.string(markup[key], f"{where}.{key}")
    points = []
    for c, cp in enumerate(doc.array(markup.get("controlPoints", []), f"{where}.controlPoints")):
        at = f"{where}.controlPoints[{c}]"
        cp = doc.object(cp, at)
        label = doc.string(cp.get("label", ""), f"{at}.label")
        status = doc.string(
            cp.get("positionStatus", "defined"), f"{at}.positionStatus", choices=POSITION_STATUSES
        )
        if status != "defined":
            points.append((label, None))
            continue
        p = doc.point(doc.get(cp, "position", at), f"{at}.position")
        points.append((label, ras_to_lps(p) if system == "RAS" else p))
    return MarkupPoints(markup, tuple(points))


def read_mrk_json(path: str | os.PathLike) -> Landmarks:
    """Read the control points of a Slicer ``.mrk.json`` file into LPS :class:`Landmarks`.

    All markups in the file are read (see :func:`read_mrk_json_markups`); points not yet
    placed are kept as unplaced entries.
    """
    entries = [pt for m in read_mrk_json_markups(path) for pt in m.points]
    return Landmarks(entries, source=f"landmarks file {Path(path).name}")


def write_mrk_json(
    path: str | os.PathLike,
    landmarks: Landmarks | Mapping[str, object],
    *,
    coordinate_system: str = "LPS",
    unplaced: Iterable[str] = (),
) -> None:
    """Write a Slicer markups fiducial ``.mrk.json`` file atomically.

    Parameters
    ----------
    landmarks : Landmarks or mapping label -> LPS point
    coordinate_system : {"LPS", "RAS"}
        The ``coordinateSystem`` the file declares; positions are converted accordingly.
    unplaced : iterable of str
        Extra labels written as pre-labelled, not yet placed control points.
    """
    system = coordinate_system.upper()
    if system not in ("LPS", "RAS"):
        raise ValueError("coordinate_system must be 'LPS' or 'RAS'")
    if not isinstance(landmarks, Landmarks):
        landmarks = Landmarks.from_dict(landmarks)
    points = []
    entries = list(landmarks.entries) + [(lab, None) for lab in unplaced]
    for n, (label, p) in enumerate(entries, start=1):
        cp = {
            "id": str(n),
            "label": label,
            "description": _where(label) if spec(label) else "",
            "associatedNodeID": "",
            "position": [0.0, 0.0, 0.0],
            "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
            "selected": True,
            "locked": False,
            "visibility": True,
            "positionStatus": "undefined",
        }
        if p is not None:
            cp["position"] = (lps_to_ras(p) if system == "RAS" else np.asarray(p, dtype=float)).tolist()
            cp["positionStatus"] = "defined"
        points.append(cp)
    doc = {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
        "Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": system,
                "coordinateUnits": "mm",
                "locked": False,
                "fixedNumberOfControlPoints": False,
                "labelFormat": "%N-%d",
                "lastUsedControlPointNumber": len(points),
                "controlPoints": points,
                "measurements": [],
            }
        ],
    }
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=4) + "\n", encoding="utf-8")
