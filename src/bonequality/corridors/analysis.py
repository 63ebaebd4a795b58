"""The corridor analysis: one run, and the live update after a landmark move (seed 000).

:func:`run` measures everything from a :class:`CorridorInputs`; :func:`analyze_corridors`
is the same call with the inputs as arguments; :func:`update_corridors` re-samples only
what a moved landmark changes (for Slicer's live update).
"""

from __future__ import annotations

from ..imaging.threshold import bone_threshold
from ..progress import ProgressCallback, report
from ..volume import Volume
from .geometry import S1Geometry, S2Geometry, c1_point, k_point, s1_leg_entry, s2_geometry
from .inputs import CorridorInputs, corridor_landmarks
from .l5 import l5_density
from .options import LANDMARK_DEPENDENTS, CorridorOptions
from .probes import probe_result, sample_legs
from .result import CorridorResult, measures, z_scores

__all__ = ["analyze_corridors", "compute_bone_threshold", "run", "update_corridors"]

#: The per-scan bone threshold (seed 000); kept under its old name.
compute_bone_threshold = bone_threshold

#: How ``summary.json`` names a threshold computed per scan.
COMPUTED_SOURCE = "computed (seed 000: mean of profile maxima and minima)"

#: Probe order of CLINICAL.md section 2: S1 = E_L -> C1 -> E_R, S2 = E_L -> E_R (0 % = left).
S1_SIDES = ("L", "R")


def _s1_leg_spec(g: S1Geometry, side: str):
    """The S1 leg of ``side`` in probe order: E_L -> C1, then C1 -> E_R."""
    if side == "L":
        return (f"S1_{side}", g.entry["L"], g.c1)
    return (f"S1_{side}", g.c1, g.entry["R"])


def _s2_legs_spec(g: S2Geometry):
    return [("S2", g.entry["L"], g.entry["R"])]


def _s1_geometry(volume, lm, threshold, opts, entries: dict | None = None, sides=S1_SIDES) -> S1Geometry:
    """S1 geometry with the entries of ``sides`` (re)computed and the others kept from ``entries``."""
    entries = dict(entries or {})
    for s in sides:
        entries[s] = s1_leg_entry(volume, lm, s, threshold, opts)
    return S1Geometry(c1_point(lm), {s: k_point(lm, s) for s in S1_SIDES}, entries)


def _finish(threshold, source, s1g, s2g, s1, s2, l5, opts) -> CorridorResult:
    return CorridorResult(threshold, source, s1g, s2g, s1, s2, l5, z_scores(measures(s1, s2, l5)), opts)


def run(inputs: CorridorInputs, *, progress: ProgressCallback | None = None) -> CorridorResult:
    """S1 and S2 corridors, cylinder probes, L5 density and z-scores (seed 000).

    Parameters
    ----------
    inputs : CorridorInputs
        The validated CT, landmarks, threshold, screw diameters, L5 mask and options.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.

    Raises
    ------
    AnalysisError
        A corridor never leaves bone, or meets none; no threshold profile crosses the body.
    LandmarkError
        Landmarks that make no corridor (left/right swapped, collinear S2 points, ...), named.
    """
    opts = inputs.effective_options
    volume, lm = inputs.ct, inputs.landmarks
    report(progress, 0.0, "corridors: bone threshold")
    threshold, source = inputs.bone_threshold, "user"
    if threshold is None:
        threshold, source = bone_threshold(volume, lm, air_hu=opts.air_hu), COMPUTED_SOURCE
    threshold = float(threshold)
    report(progress, 0.15, "corridors: S1 and S2 geometry")
    s1g = _s1_geometry(volume, lm, threshold, opts)
    s2g = s2_geometry(volume, lm, threshold=threshold, options=opts)
    report(progress, 0.35, "corridors: sampling the probes")
    specs = [*(_s1_leg_spec(s1g, s) for s in S1_SIDES), *_s2_legs_spec(s2g)]
    legs = sample_legs(volume, specs, threshold, opts)
    s1 = probe_result("S1", legs[:2], opts)
    s2 = probe_result("S2", legs[2:], opts)
    report(progress, 0.85, "corridors: L5 density")
    l5 = l5_density(volume, lm["L5_body_center"], threshold=threshold, mask=inputs.l5_mask, options=opts)
    result = _finish(threshold, source, s1g, s2g, s1, s2, l5, opts)
    report(progress, 1.0, "corridors: done")
    return result


def analyze_corridors(
    volume: Volume,
    landmarks,
    *,
    bone_threshold: float | None = None,
    l5_mask: Volume | None = None,
    options: CorridorOptions | None = None,
    screw_diameters: tuple[float, ...] | None = None,
    progress: ProgressCallback | None = None,
) -> CorridorResult:
    """:func:`run` on ``CorridorInputs(volume, landmarks, ...)``.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    landmarks : Landmarks or mapping label -> (3,) LPS mm
        The ``corridors`` labels of the landmark schema (CLINICAL.md section 1).
    bone_threshold : float, optional
        HU; default computed per scan (:func:`bonequality.imaging.threshold.bone_threshold`).
    l5_mask : Volume, optional
        L5 vertebral-body mask (else an ROI around ``L5_body_center``).
    options : CorridorOptions, optional
    screw_diameters : tuple of float, optional
        Overrides ``options.screw_diameters_mm``.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.

    Raises
    ------
    NotCTError
        ``volume`` does not look like a CT in HU.
    LandmarkError, OutsideImageError
        Missing, duplicated, misplaced or out-of-image landmarks (named).
    AnalysisError
        A corridor never leaves bone, or meets none.
    """
    inputs = CorridorInputs(
        volume,
        landmarks,
        bone_threshold=bone_threshold,
        screw_diameters=screw_diameters,
        l5_mask=l5_mask,
        options=options or CorridorOptions(),
    )
    return run(inputs, progress=progress)


def update_corridors(
    result: CorridorResult,
    volume: Volume,
    landmarks,
    *,
    moved: str | tuple[str, ...] | None = None,
    l5_mask: Volume | None = None,
) -> CorridorResult:
    """Re-sample only what the moved landmark(s) change, keeping the bone threshold.

    For interactive use (a landmark dragged in Slicer): moving ``SI_joint_ventral_sup_L``
    re-samples only the left S1 leg; an S2 label only the S2 probe; ``L5_body_center`` only
    the L5 ROI (see :data:`LANDMARK_DEPENDENTS`). ``moved=None`` re-samples everything.
    """
    opts = result.options
    lm = corridor_landmarks(landmarks, volume)
    labels = (moved,) if isinstance(moved, str) else tuple(moved or LANDMARK_DEPENDENTS)
    parts = {p for lab in labels for p in LANDMARK_DEPENDENTS.get(lab, ())}
    threshold = result.bone_threshold_hu
    s1g, s2g, s1, s2, l5 = result.s1_geometry, result.s2_geometry, result.s1, result.s2, result.l5
    s1_sides = [s for s in S1_SIDES if f"S1_{s}" in parts]
    if s1_sides:
        s1g = _s1_geometry(volume, lm, threshold, opts, s1g.entry, s1_sides)
        specs = [_s1_leg_spec(s1g, s) for s in s1_sides]
        new = dict(zip(s1_sides, sample_legs(volume, specs, threshold, opts)))
        old = dict(zip(S1_SIDES, s1.legs))
        s1 = probe_result("S1", [new.get(s, old[s]) for s in S1_SIDES], opts)
    if "S2" in parts:
        s2g = s2_geometry(volume, lm, threshold=threshold, options=opts)
        s2 = probe_result("S2", sample_legs(volume, _s2_legs_spec(s2g), threshold, opts), opts)
    if "L5" in parts:
        l5 = l5_density(volume, lm["L5_body_center"], threshold=threshold, mask=l5_mask, options=opts)
    return _finish(threshold, result.threshold_source, s1g, s2g, s1, s2, l5, opts)
