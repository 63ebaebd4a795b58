"""CementVolume's logic without Qt: nodes -> :class:`~bonequality.cement.CementInputs` -> nodes.

One user action ("Apply") is one library call. Inputs are read from nodes first, the
analysis runs, and only when it succeeds are the result nodes written (so a failed or
cancelled run leaves the previous results in place). Result nodes are remembered on the
module's parameter node (:class:`~bonequality.mrml.results.ResultNodes`):

``cement.segmentation``
    Segments ``VertebralBody``, ``Cement``, ``Leakage`` on the CT grid.
``cement.table``
    The summary: VBV, CDV, VF % against the 28.58 % cut-off, leakage per location,
    distribution score and side fractions (seed 003), screw contact (seed 002).
``cement.zones``
    The cement fraction of every zone of the distribution score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..cement import CementInputs, CementOptions, CementResult, Screw, vf_percent
from ..cement import run as run_cement_analysis
from ..errors import GeometryMismatchError, InputFileError
from ..imaging.body import BodySource
from ..volume import Volume
from .markups import landmarks_from_node
from .results import ResultNodes
from .segmentations import mask_from_node, segment_volume, segmentation_node_from_masks
from .tables import dataframe_to_table_node
from .volumes import node_to_volume

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BODY_SOURCES",
    "VF_STATISTICS",
    "cement_tables",
    "run_cement",
    "screws_from_node",
    "seed_from_node",
    "segment_vf_statistics",
]

#: How the vertebral body is given (the GUI's choice) -> :class:`~bonequality.imaging.body.BodySource` kind.
BODY_SOURCES = {"vertebra mask": "vertebra_mask", "body mask": "body_mask", "seed point": "seed"}


def seed_from_node(node) -> np.ndarray:
    """The first placed control point of a markups node, LPS mm."""
    lm = landmarks_from_node(node)
    placed = [p for _, p in lm.entries if p is not None]
    if not placed:
        raise InputFileError(f"seed '{node.GetName()}': place a point inside the vertebral body.")
    return placed[0]


def screws_from_node(node, *, diameter_mm: float) -> tuple[Screw, ...]:
    """Screws from a markups node: consecutive placed points pair up as (entry, tip)."""
    lm = landmarks_from_node(node)
    pts = [(label, p) for label, p in lm.entries if p is not None]
    if len(pts) % 2:
        raise InputFileError(
            f"screws '{node.GetName()}': {len(pts)} points placed; place an entry and a tip per screw."
        )
    return tuple(
        Screw(pts[i][0] or f"screw {i // 2 + 1}", pts[i][1], pts[i + 1][1], float(diameter_mm))
        for i in range(0, len(pts), 2)
    )


def cement_tables(result: CementResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, zones) tables of a result, as shown in Slicer."""
    import pandas as pd

    rows = [
        ("Vertebral body volume (VBV)", result.vbv_ml, "ml", f"body from {result.body_source}"),
        ("Cement inside the body (CDV)", result.cdv_ml, "ml", ""),
        (
            "VF %",
            result.vf_percent,
            "%",
            f"extensive distribution predicted from {result.options.vf_cutoff_percent} % (seed 003): "
            + ("yes" if result.predicted_extensive else "no"),
        ),
        ("Leakage", result.leakage_ml, "ml", ""),
    ]
    rows += [
        (f"Leakage: {loc.replace('_', ' ')}", ml, "ml", "") for loc, ml in result.leakage_by_location.items()
    ]
    if result.nearest_leak_to_canal_mm is not None:
        rows.append(("Nearest leak to the canal", result.nearest_leak_to_canal_mm, "mm", ""))
    score = result.distribution_score
    if score is not None:
        rows += [
            ("Distribution score: coronal", score.coronal, "0-3", ""),
            ("Distribution score: sagittal", score.sagittal, "0-3", ""),
            ("Distribution score: axial", score.axial, "0-4", ""),
            ("Distribution score: total", score.total, "0-10", f"group {score.group} (B = 8-10, extensive)"),
        ]
    rows += [(f"Cement fraction {side}", frac, "", "") for side, frac in result.side_fraction.items()]
    rows += [
        (
            f"Screw {s.name}: cement contact",
            s.contact_fraction,
            "",
            f"{s.contact_length_mm:.1f} of {s.length_mm:.1f} mm",
        )
        for s in result.screws
    ]
    summary = pd.DataFrame(rows, columns=["Measure", "Value", "Unit", "Note"])
    summary["Value"] = summary["Value"].astype(float)
    zone_rows = []
    if score is not None:
        for plane, zones in score.zones.items():
            for zone, fraction in zones.items():
                zone_rows.append((plane, zone, float(fraction), bool(fraction >= score.min_zone_fraction)))
    zones = pd.DataFrame(zone_rows, columns=["Plane", "Zone", "Cement fraction", "Counts"])
    return summary, zones


def body_source_from_nodes(
    volume: Volume, source: str, mask_node, segment: str, label: int, seed_node
) -> BodySource:
    """The GUI's vertebral-body choice and nodes as a :class:`BodySource` (shared with FocalDefect)."""
    if source not in BODY_SOURCES:
        raise InputFileError(f"vertebral body source '{source}': choose one of {', '.join(BODY_SOURCES)}.")
    kind = BODY_SOURCES[source]
    if kind == "seed":
        if seed_node is None:
            raise InputFileError("seed point: create a point list and place a point in the vertebral body.")
        return BodySource.seed_point(seed_from_node(seed_node), name=f"seed '{seed_node.GetName()}'")
    if mask_node is None:
        raise InputFileError(f"{source}: choose the segmentation or label map holding it.")
    mask = mask_from_node(mask_node, volume, segment=segment or None, label=label or None)
    return BodySource(kind, mask=mask, name=f"{source} '{mask_node.GetName()}'")


def run_cement(
    volume_node,
    *,
    results: ResultNodes,
    body_source: str = "vertebra mask",
    mask_node=None,
    mask_segment: str = "",
    mask_label: int = 0,
    seed_node=None,
    screws_node=None,
    screw_diameter_mm: float = 7.0,
    options: CementOptions | None = None,
    progress=None,
) -> CementResult:
    """Run the cement volumetry on nodes and write its result nodes.

    Parameters
    ----------
    volume_node : vtkMRMLScalarVolumeNode
        Post-operative CT (HU).
    results : ResultNodes
        Where the result nodes are kept (the parameter node).
    body_source : {"vertebra mask", "body mask", "seed point"}
    mask_node : segmentation or label map node, optional
        With ``mask_segment`` (name; blank = all segments) or ``mask_label`` (0 = any nonzero).
    seed_node : markups node, optional
        Its first point is the seed (LPS from RAS).
    screws_node : markups node, optional
        Consecutive points pair up as screw entry and tip.
    options : CementOptions, optional
        Thresholds (bone, cement HU) and sizes.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.
    """
    volume = node_to_volume(volume_node)
    body = body_source_from_nodes(volume, body_source, mask_node, mask_segment, mask_label, seed_node)
    screws = screws_from_node(screws_node, diameter_mm=screw_diameter_mm) if screws_node is not None else ()
    inputs = CementInputs(
        volume, body, screws=screws, options=options or CementOptions(), name=volume_node.GetName()
    )
    result = run_cement_analysis(inputs, progress=progress)
    write_cement_results(result, volume, volume_node, results)
    return result


def write_cement_results(result: CementResult, volume: Volume, volume_node, results: ResultNodes) -> None:
    """Write (or update) the segmentation and tables of ``result``."""
    scene = results.scene
    name = volume_node.GetName()
    masks = {"VertebralBody": result.body_mask, "Cement": result.cement_mask, "Leakage": result.leakage_mask}
    results.keep(
        "cement.segmentation",
        segmentation_node_from_masks(
            masks,
            volume,
            results.get("cement.segmentation"),
            name=f"{name} cement segments",
            reference_node=volume_node,
            scene=scene,
        ),
    )
    summary, zones = cement_tables(result)
    results.keep(
        "cement.table",
        dataframe_to_table_node(summary, results.get("cement.table"), name=f"{name} cement", scene=scene),
    )
    results.keep(
        "cement.zones",
        dataframe_to_table_node(zones, results.get("cement.zones"), name=f"{name} cement zones", scene=scene),
    )


#: Segment Statistics measurements of :func:`segment_vf_statistics`: key -> (name, units).
VF_STATISTICS = {
    "vf_percent": ("VF %", "%"),
    "cdv_cm3": ("cement inside the body (CDV)", "cm3"),
    "vbv_cm3": ("vertebral body volume (VBV)", "cm3"),
    "predicted_extensive": ("VF % >= cut-off (extensive distribution predicted)", ""),
}


def segment_vf_statistics(
    segmentation_node,
    segment: str,
    *,
    body_segment: str = "VertebralBody",
    vf_cutoff_percent: float = CementOptions.vf_cutoff_percent,
) -> dict:
    """VF % of one segment against the vertebral-body segment of the same segmentation.

    VF % = CDV / VBV x 100 (seed 003), where CDV counts only the part of ``segment``
    inside ``body_segment``. This is what the Segment Statistics plugin of the
    CementVolume module reports, so a user can read VF % for any cement segment,
    including one drawn by hand.

    Returns
    -------
    dict
        The keys of :data:`VF_STATISTICS`; empty for the body segment itself.
    """
    seg = segmentation_node.GetSegmentation()
    if segment in (body_segment, seg.GetSegmentIdBySegmentName(body_segment)):
        return {}
    body = segment_volume(segmentation_node, body_segment)
    cement = segment_volume(segmentation_node, segment)
    try:
        inside = cement.mask_on(body, name=f"segment '{segment}'")
    except GeometryMismatchError:  # the segment lies wholly outside the body
        inside = np.zeros(body.array.shape, dtype=bool)
    voxel_cm3 = body.voxel_volume_mm3 / 1000.0
    cdv = float((inside & body.array).sum() * voxel_cm3)
    vbv = float(body.array.sum() * voxel_cm3)
    vf = vf_percent(cdv, vbv)
    return {
        "vf_percent": vf,
        "cdv_cm3": cdv,
        "vbv_cm3": vbv,
        "predicted_extensive": bool(vf >= vf_cutoff_percent),
    }
