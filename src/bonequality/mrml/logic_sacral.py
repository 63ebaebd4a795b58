"""SacralBoneAnalysis's logic without Qt: corridors (seed 000) and sacroplasty planning (seed 001).

Two user actions, each one library call:

* "Analyze corridors": :func:`bonequality.corridors.run` (and, when a
  landmark is dragged with live update on, :func:`bonequality.corridors.update_corridors`,
  which re-samples only what that landmark changes);
* "Plan sacroplasty": :class:`bonequality.sacroplasty.SacroplastyPlanner` (kept per CT,
  so a dragged landmark re-plans all six trajectories without converting the CT again).

Results are written only after the call succeeds. Result roles on the parameter node:
``corridors.table`` (region means with seed 000 Table 1 and z-scores), ``corridors.summary``
(bone threshold, L5, lengths, S2 shift, screw fit), ``corridors.chart`` (HU against % of
probe length, cohort means as dashed lines, like seed 000 Figure 6), ``corridors.line.<leg>``
(trajectories), ``corridors.probe.<leg>`` (10 mm cylinder models), ``corridors.thermal.<leg>``
(each leg's thermal image, a one-slice volume on the plane it was sampled on),
``corridors.overlay`` (the CT's HU inside the bone envelope in thermal colours,
:mod:`bonequality.corridors.overlay`),
``sacroplasty.table``, ``sacroplasty.targets`` and ``sacroplasty.line.<side>.<trajectory>``
(skin entry -> target).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..colors import THERMAL_RANGE_HU
from ..corridors import REFERENCE_COHORT, REGIONS, CorridorInputs, CorridorResult, update_corridors
from ..corridors import run as run_corridors
from ..corridors.overlay import OUTSIDE_HU, ThermalOverlay
from ..corridors.probes import perp_frame
from ..frames import lps_to_ras
from ..geometry import unit
from ..imaging.envelope import LIVE_ENVELOPE_TOLERANCE
from ..landmarks import Landmarks
from ..progress import report
from ..sacroplasty import REFERENCE as SACROPLASTY_REFERENCE
from ..sacroplasty import SacroplastyInputs, SacroplastyPlan, SacroplastyPlanner
from ..validation import check_bone_threshold
from ..volume import Volume
from .colors import color_display, show_overlay
from .markups import landmarks_from_node, landmarks_to_node, line_node
from .models import cylinder_model
from .plots import ProfileCurve, profile_chart
from .results import ResultNodes
from .tables import dataframe_to_table_node
from .volumes import ijk_to_ras_of_node, node_to_volume, volume_to_node

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CorridorSession",
    "SacroplastySession",
    "corridor_tables",
    "reformat_slice_node",
    "run_sacroplasty",
    "sacroplasty_table",
    "write_corridor_results",
    "write_sacroplasty_results",
]

#: Reference groups of seed 000 Table 1 shown beside the patient's values.
GROUPS = ("L5 > 100 HU", "L5 <= 100 HU")
#: Probe radius (mm): the 10 mm cylinder probes.
PROBE_RADIUS_MM = 5.0


def corridor_tables(result: CorridorResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(region means with cohort values and z-scores, summary) of a corridor result."""
    import pandas as pd

    rows = []
    measures = result.measures()
    for key in ("L5", *(f"{c}_{r}" for c in ("S1", "S2") for r in REGIONS)):
        row = {"Measure": key.replace("_", " "), "Mean HU": float(measures[key])}
        for group in GROUPS:
            _, mean, sd = REFERENCE_COHORT[group][key]
            row[f"{group} (mean ± SD)"] = f"{mean} ± {sd}"
            row[f"z ({group})"] = float(result.z_scores.get(group, {}).get(key, np.nan))
        rows.append(row)
    regions = pd.DataFrame(rows)
    summary = [
        ("Bone threshold", result.bone_threshold_hu, "HU", result.threshold_source),
        ("L5 mean", result.l5.mean_hu, "HU", result.l5.group),
        ("L5 ROI volume", result.l5.roi_volume_ml, "ml", ""),
    ]
    for probe in (result.s1, result.s2):
        summary.append((f"{probe.corridor} length", probe.length_mm, "mm", ""))
        summary.append((f"{probe.corridor} min free radius", probe.min_free_radius_mm, "mm", ""))
        for diameter, fits in probe.screw_fit.items():
            summary.append(
                (
                    f"{probe.corridor} {diameter:g} mm screw",
                    float(bool(fits)),
                    "fits",
                    "yes" if fits else "no",
                )
            )
    summary.append(("S2 ventral shift (7 mm rule)", result.s2_geometry.ventral_shift_mm, "mm", ""))
    return regions, pd.DataFrame(summary, columns=["Measure", "Value", "Unit", "Note"])


class _CachedVolume:
    """The CT node as a :class:`Volume`, converted again only when its voxels or geometry change."""

    def __init__(self):
        self._key = None
        self._volume: Volume | None = None
        self._mask = None

    def _volume_changed(self) -> None:
        """Drop what depends on the previous CT."""

    def _sacrum_mask(self, node, volume: Volume, segment, label, *, reuse: bool):
        """``(key, mask, name)`` of the sacrum mask node on the CT grid (None without a node)."""
        if node is None:
            return None, None, "sacrum mask"
        from .segmentations import mask_from_node

        key = (node.GetID(), segment, label)
        if not (reuse and self._mask is not None and self._mask[0] == key):
            self._mask = (key, mask_from_node(node, volume, segment=segment, label=label))
        return key, self._mask[1], f"sacrum mask '{node.GetName()}'"

    @staticmethod
    def _node_key(node) -> tuple:
        image = node.GetImageData()
        geometry = tuple(ijk_to_ras_of_node(node).ravel())
        return node.GetID(), image.GetMTime() if image is not None else 0, geometry

    def volume(self, node) -> Volume:
        key = self._node_key(node)
        if key != self._key:
            self._volume = node_to_volume(node)
            self._key, self._mask = key, None
            self._volume_changed()
        return self._volume

    def adopt(self, node, volume: Volume) -> None:
        """Use ``volume``, which holds ``node``'s voxels now, instead of converting the node.

        A front end that already has the CT as a :class:`Volume` (the web page keeps the
        one it read) avoids a second copy of it; once the node's voxels or geometry change,
        :meth:`volume` converts the node again.
        """
        key = self._node_key(node)
        if key != self._key or self._volume is not volume:
            self._volume, self._key, self._mask = volume, key, None
            self._volume_changed()


class CorridorSession(_CachedVolume):
    """Keeps the CT as a :class:`Volume` and the last result, for fast live updates."""

    def __init__(self):
        super().__init__()
        self.result: CorridorResult | None = None
        self._landmarks: Landmarks | None = None
        self._threshold: float | None = None  # the user's bone threshold of self.result
        self.overlay = ThermalOverlay()

    def _volume_changed(self) -> None:
        self.result = None
        self.overlay = ThermalOverlay()

    def _write(
        self, result: CorridorResult, volume_node, landmarks: Landmarks, results, sacrum, previous=None
    ) -> None:
        """The result nodes (``previous``: the result they show, see :func:`write_corridor_results`);
        the overlay only when it changed (or its node is gone).

        ``sacrum`` (the sacrum mask on the CT grid, or None) is the overlay's region;
        without it, the cortical envelope around the landmarks.
        """
        points = [landmarks[k] for k in landmarks]
        volume = self.volume(volume_node)
        changed = self.overlay.update(volume, result.bone_threshold_hu, points, sacrum_mask=sacrum)
        missing = results.get("corridors.overlay") is None
        overlay = self.overlay.volume if changed or missing else None
        write_corridor_results(result, volume_node, results, overlay=overlay, previous=previous)

    def analyze(
        self,
        volume_node,
        landmarks_node,
        *,
        results: ResultNodes,
        bone_threshold=None,
        sacrum_mask_node=None,
        sacrum_segment: str | None = None,
        sacrum_label: int | None = None,
        progress=None,
    ):
        """Full analysis (one :func:`bonequality.corridors.run` call), then write the result nodes.

        The nodes become a :class:`~bonequality.corridors.CorridorInputs`, which refuses bad
        input with the same typed errors as the CLI and batch. ``sacrum_mask_node`` (read
        again here; ``sacrum_segment`` / ``sacrum_label`` select the sacrum) is the region of
        the thermal overlay.
        """
        inputs = CorridorInputs(
            self.volume(volume_node),
            landmarks_from_node(landmarks_node),
            bone_threshold=bone_threshold,
            name=volume_node.GetName(),
        )
        node = sacrum_mask_node
        _, sacrum, _ = self._sacrum_mask(node, inputs.ct, sacrum_segment, sacrum_label, reuse=False)
        result = run_corridors(inputs, progress=progress)
        self.result, self._landmarks, self._threshold = result, inputs.landmarks, inputs.bone_threshold
        self._write(result, volume_node, inputs.landmarks, results, sacrum)
        return result

    def update(self, volume_node, landmarks_node, *, results: ResultNodes, bone_threshold=None, **sacrum):
        """After a landmark moved: re-sample only what changed, keeping the bone threshold.

        A full :meth:`analyze` when nothing is cached or ``bone_threshold`` is not the one
        the cached result was made with (the user typed another). ``sacrum``: the sacrum
        keywords of :meth:`analyze`; the mask it read is reused.
        """
        volume = self.volume(volume_node)
        landmarks = landmarks_from_node(landmarks_node)
        if (
            self.result is None
            or self._landmarks is None
            or check_bone_threshold(bone_threshold) != self._threshold
        ):
            return self.analyze(
                volume_node, landmarks_node, results=results, bone_threshold=bone_threshold, **sacrum
            )
        old, new = self._landmarks.to_dict(), landmarks.to_dict()
        moved = tuple(k for k in new if k not in old or not np.array_equal(old[k], new[k]))
        moved += tuple(k for k in old if k not in new)
        if not moved:
            return self.result
        node, segment, label = (sacrum.get(f"sacrum_{k}") for k in ("mask_node", "segment", "label"))
        _, mask, _ = self._sacrum_mask(node, volume, segment, label, reuse=True)
        previous = self.result
        result = update_corridors(previous, volume, landmarks, moved=moved)
        self.result, self._landmarks = result, landmarks
        self._write(result, volume_node, landmarks, results, mask, previous)
        return result


def _thermal_volume(leg) -> Volume:
    """A probe leg's thermal image as a one-slice volume lying where it was sampled (LPS).

    The library samples column ``c`` at ``start + (c + 1/2) * L/n * w`` along the leg's axis
    ``w`` and row ``r`` at the offset ``offsets[r]`` along the dorsal direction ``u`` of
    :func:`bonequality.corridors.probes.perp_frame`. Rows are flipped so that row 0 is the
    most dorsal one (dorsal up in a slice view); the ``j`` axis therefore points along ``-u``.
    """
    w = unit(leg.end - leg.start, name=f"probe leg {leg.name}")
    u, _ = perp_frame(w)
    image, offsets = leg.thermal, leg.thermal_offsets_mm
    step_along = leg.length_mm / image.shape[1]
    step_across = float(abs(offsets[1] - offsets[0])) if len(offsets) > 1 else 1.0
    direction = np.column_stack([w, -u, np.cross(w, -u)])
    origin = leg.start + 0.5 * step_along * w + float(offsets[-1]) * u
    return Volume.from_array(
        np.ascontiguousarray(image[::-1][np.newaxis].astype(np.float32)),
        spacing=(step_along, step_across, step_across),
        origin=origin,
        direction=direction,
    )


def _write_overlay(overlay: Volume, ct_node, results: ResultNodes) -> None:
    """The thermal overlay (:mod:`bonequality.corridors.overlay`) as a volume over the CT."""
    node = volume_to_node(
        overlay, results.get("corridors.overlay"), name=f"{ct_node.GetName()} thermal", scene=results.scene
    )
    node.SetAttribute("BoneQuality.Thermal", "HU inside the bone envelope")
    show_thermal_overlay(node)
    results.keep("corridors.overlay", node)


def show_thermal_overlay(node, **views) -> None:
    """The display of the thermal overlay: :data:`THERMAL_RANGE_HU`, transparent outside the bone.

    With ``views`` (``background_node``, ``opacity``) it is also shown in every slice view
    (:func:`bonequality.mrml.colors.show_overlay`).
    """
    lo, hi = THERMAL_RANGE_HU
    if views:
        show_overlay(node, window_min=lo, window_max=hi, threshold_below=OUTSIDE_HU + 1, **views)
    else:
        color_display(node, window_min=lo, window_max=hi, threshold_below=OUTSIDE_HU + 1)


def _leg_roles(corridor: str, leg) -> tuple[str, str, str]:
    """Result roles of one probe leg's line, cylinder model and thermal image."""
    role = f"{corridor}.{leg.name}"
    return tuple(f"corridors.{kind}.{role}" for kind in ("line", "probe", "thermal"))


def _write_leg(corridor: str, leg, results: ResultNodes) -> None:
    """One probe leg's trajectory line, 10 mm cylinder model and thermal image (in patient space)."""
    scene = results.scene
    line_role, probe_role, thermal_role = _leg_roles(corridor, leg)
    line = line_node(leg.start, leg.end, results.get(line_role), name=f"{corridor} {leg.name}", scene=scene)
    results.keep(line_role, line)
    model = cylinder_model(
        leg.start,
        leg.end,
        PROBE_RADIUS_MM,
        results.get(probe_role),
        name=f"{corridor} probe {leg.name}",
        scene=scene,
    )
    results.keep(probe_role, model)
    thermal = volume_to_node(
        _thermal_volume(leg), results.get(thermal_role), name=f"{corridor} {leg.name} thermal", scene=scene
    )
    thermal.SetAttribute("BoneQuality.Thermal", "plane of the probe axis and the dorsal direction")
    color_display(thermal, window_min=THERMAL_RANGE_HU[0], window_max=THERMAL_RANGE_HU[1])
    results.keep(thermal_role, thermal)


def write_corridor_results(
    result: CorridorResult,
    volume_node,
    results: ResultNodes,
    *,
    overlay: Volume | None = None,
    previous: CorridorResult | None = None,
) -> None:
    """Write (or update) every corridor result node; the thermal overlay when ``overlay`` is given.

    ``previous``: the result the nodes show now. A probe leg it shares with ``result`` (the
    same object: :func:`~bonequality.corridors.update_corridors` keeps the legs a moved
    landmark does not change) keeps its line, model and thermal image nodes, while they exist.
    """
    scene = results.scene
    name = volume_node.GetName()
    regions, summary = corridor_tables(result)
    results.keep(
        "corridors.table",
        dataframe_to_table_node(
            regions, results.get("corridors.table"), name=f"{name} corridor regions", scene=scene
        ),
    )
    results.keep(
        "corridors.summary",
        dataframe_to_table_node(
            summary, results.get("corridors.summary"), name=f"{name} corridor summary", scene=scene
        ),
    )
    curves = [
        ProfileCurve(
            p.corridor,
            p.percent,
            p.profile_hu,
            {f"cohort {g}": REFERENCE_COHORT[g][f"{p.corridor}_corridor"][1] for g in GROUPS},
        )
        for p in (result.s1, result.s2)
    ]
    chart = profile_chart(
        curves,
        results.get("corridors.chart"),
        title=f"{name} corridor profiles",
        x_title="% of probe length (0 = patient left)",
        y_title="HU",
        scene=scene,
    )
    results.keep("corridors.chart", chart)
    shown = {id(leg) for p in ((previous.s1, previous.s2) if previous else ()) for leg in p.legs}
    for probe in (result.s1, result.s2):
        for leg in probe.legs:
            kept = id(leg) in shown and all(
                results.get(r) is not None for r in _leg_roles(probe.corridor, leg)
            )
            if not kept:
                _write_leg(probe.corridor, leg, results)
    if overlay is not None:
        _write_overlay(overlay, volume_node, results)


# ------------------------------------------------------------------------------ sacroplasty
def sacroplasty_table(plan: SacroplastyPlan) -> pd.DataFrame:
    """Side x trajectory rows with seed 001 Table 1 reference values beside them.

    A target outside the envelope has its breach depth (the same on its three rows, and
    the negative distance); the envelope that decided is the node attribute
    ``BoneQuality.Envelope`` (:func:`write_sacroplasty_results`).
    """
    import pandas as pd

    rows = []
    for side, res in plan.sides.items():
        for key, t in res.trajectories.items():
            ref = SACROPLASTY_REFERENCE[key]
            rows.append(
                {
                    "Side": side,
                    "Trajectory": key.replace("_", " "),
                    "Distance to anterior cortex (mm)": float(t.distance_to_anterior_cortex_mm),
                    "Category": t.category,
                    "Seed 001 mean ± SD (mm)": f"{ref['mean_mm']} ± {ref['sd_mm']}",
                    "Needle depth (mm)": float(t.needle_depth_mm),
                    "Target in bone": bool(res.target_in_bone),
                    "Breach depth (mm)": float(res.breach_depth_mm),
                    "Low-HU gaps before target": len(t.gaps_mm),
                }
            )
    return pd.DataFrame(rows)


class SacroplastySession(_CachedVolume):
    """Keeps one :class:`SacroplastyPlanner` per CT, threshold and sacrum mask, for live re-planning.

    The planner keeps the envelope (the sacrum mask, or the CT's cortical shell), so a
    dragged landmark only re-samples the six rays: :meth:`update` reuses the cortical
    envelope while the per-scan threshold stays within
    :data:`~bonequality.imaging.envelope.LIVE_ENVELOPE_TOLERANCE` of the one it was built
    with, and the sacrum mask read by the last :meth:`run`; :meth:`run` builds them at the
    plan's own threshold and reads the mask node again.
    """

    def __init__(self):
        super().__init__()
        self._planner: SacroplastyPlanner | None = None
        self._planner_key = None
        self.plan: SacroplastyPlan | None = None

    def _volume_changed(self) -> None:
        self._planner = None
        self.plan = None

    def run(
        self,
        volume_node,
        landmarks_node,
        *,
        results: ResultNodes,
        bone_threshold=None,
        sacrum_mask_node=None,
        sacrum_segment: str | None = None,
        sacrum_label: int | None = None,
        progress=None,
        live: bool = False,
    ) -> SacroplastyPlan:
        """Plan the needles (one planner call) and write the result nodes; nothing is written on error.

        The nodes become a :class:`~bonequality.sacroplasty.SacroplastyInputs` (the same
        checks as the CLI and batch). ``sacrum_mask_node`` (a segmentation or label map
        node; ``sacrum_segment`` / ``sacrum_label`` select the sacrum) is then the envelope
        (:func:`bonequality.mrml.segmentations.mask_from_node`). The planner is kept while
        the CT, the threshold and the mask stay. ``progress(fraction, message)`` may raise
        :class:`~bonequality.errors.OperationCancelled`. ``live``: a landmark was dragged
        (:meth:`update`).
        """
        report(progress, 0.0, "sacroplasty: reading the CT and landmarks")
        volume = self.volume(volume_node)
        mask_key, mask, mask_name = self._sacrum_mask(
            sacrum_mask_node, volume, sacrum_segment, sacrum_label, reuse=live
        )
        landmarks = landmarks_from_node(landmarks_node)
        key = (check_bone_threshold(bone_threshold), mask_key)
        if not (live and self._planner is not None and self._planner_key == key):
            # A drag with the same CT, threshold and mask skips this: the planner was built
            # from these checked inputs, and its plan() checks the landmarks as they do.
            inputs = SacroplastyInputs(
                volume,
                landmarks,
                bone_threshold=bone_threshold,
                name=volume_node.GetName(),
                sacrum_mask=mask,
                sacrum_mask_name=mask_name,
            )
            landmarks = inputs.landmarks
            if self._planner is None or self._planner_key != key or mask is not None:
                report(progress, 0.2, "sacroplasty: preparing the CT")
                self._planner = SacroplastyPlanner.from_inputs(inputs)
                self._planner_key = key
        report(progress, 0.6, "sacroplasty: planning needles")
        plan = self._planner.plan(landmarks, envelope_tolerance=LIVE_ENVELOPE_TOLERANCE if live else 0.0)
        report(progress, 0.9, "sacroplasty: writing the results")
        self.plan = plan
        write_sacroplasty_results(plan, volume_node.GetName(), results)
        return plan

    def update(
        self, volume_node, landmarks_node, *, results: ResultNodes, bone_threshold=None, **sacrum
    ) -> SacroplastyPlan | None:
        """After a landmark moved: re-plan if a plan was made before (else nothing to update).

        ``sacrum``: the sacrum keywords of :meth:`run`; the mask it read is reused.
        """
        if self.plan is None:
            return None
        return self.run(
            volume_node, landmarks_node, results=results, bone_threshold=bone_threshold, live=True, **sacrum
        )


def run_sacroplasty(
    volume_node,
    landmarks_node,
    *,
    results: ResultNodes,
    bone_threshold=None,
    sacrum_mask_node=None,
    sacrum_segment: str | None = None,
    sacrum_label: int | None = None,
) -> SacroplastyPlan:
    """One-off plan (a fresh :class:`SacroplastySession`) written as result nodes.

    ``sacrum_mask_node``: an optional segmentation or label map node holding the sacrum
    (``sacrum_segment`` / ``sacrum_label`` select it); it is then the envelope.
    """
    return SacroplastySession().run(
        volume_node,
        landmarks_node,
        results=results,
        bone_threshold=bone_threshold,
        sacrum_mask_node=sacrum_mask_node,
        sacrum_segment=sacrum_segment,
        sacrum_label=sacrum_label,
    )


def write_sacroplasty_results(plan: SacroplastyPlan, name: str, results: ResultNodes) -> None:
    """The table (warnings and envelope as attributes), the target points and the needle lines."""
    scene = results.scene
    table = dataframe_to_table_node(
        sacroplasty_table(plan), results.get("sacroplasty.table"), name=f"{name} sacroplasty", scene=scene
    )
    table.SetAttribute("BoneQuality.Warnings", "\n".join(plan.warnings))
    table.SetAttribute("BoneQuality.Envelope", str(plan.envelope.get("envelope_name", "")))
    results.keep("sacroplasty.table", table)
    targets = Landmarks(
        [
            ("target_midsagittal", plan.target_midsagittal_lps),
            *((f"target_{s}", r.target_lps) for s, r in plan.sides.items()),
        ]
    )
    node = landmarks_to_node(
        targets, results.get("sacroplasty.targets"), name=f"{name} sacroplasty targets", scene=scene
    )
    node.SetLocked(True)
    results.keep("sacroplasty.targets", node)
    for side, res in plan.sides.items():
        for key, t in res.trajectories.items():
            if t.entry_skin_lps is None:
                continue
            role = f"sacroplasty.line.{side}.{key}"
            results.keep(
                role,
                line_node(
                    t.entry_skin_lps,
                    res.target_lps,
                    results.get(role),
                    name=f"needle {side} {key}",
                    scene=scene,
                ),
            )


def reformat_slice_node(slice_node, plan: SacroplastyPlan, side: str) -> None:
    """Turn a slice view into the sagittal-oblique plane along the SI joint through a side's target.

    The plane holds the vertical and the joint's axial direction (seed 001 Figure 1C), so
    the three trajectories of that side lie in it.
    """
    res = plan.sides[side]
    j = np.array([res.joint_direction[0], res.joint_direction[1], 0.0])
    u = j / np.linalg.norm(j)
    v = np.array([0.0, 0.0, 1.0])
    normal = lps_to_ras(np.cross(u, v))
    transverse = lps_to_ras(u)
    center = lps_to_ras(res.target_lps)
    slice_node.SetSliceToRASByNTP(*normal.tolist(), *transverse.tolist(), *center.tolist(), 0)
