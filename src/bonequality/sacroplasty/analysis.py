"""The one library call per user action: :func:`run` (and the keyword form :func:`plan_sacroplasty`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..landmarks import Landmarks
from ..progress import ProgressCallback, report
from .inputs import SacroplastyInputs
from .options import SacroplastyOptions
from .planner import SacroplastyPlanner
from .result import SacroplastyPlan

__all__ = ["plan_sacroplasty", "run"]


def run(inputs: SacroplastyInputs, *, progress: ProgressCallback | None = None) -> SacroplastyPlan:
    """Plan sacroplasty needles (seed 001; CLINICAL.md section 3) from validated inputs.

    Parameters
    ----------
    inputs : SacroplastyInputs
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled` to stop.

    Returns
    -------
    SacroplastyPlan
    """
    report(progress, 0.0, "sacroplasty: preparing the CT")
    planner = SacroplastyPlanner.from_inputs(inputs)
    report(progress, 0.3, "sacroplasty: planning needles")
    plan = planner.plan(inputs.landmarks)
    report(progress, 1.0, "sacroplasty: done")
    return plan


def plan_sacroplasty(
    volume,
    landmarks: Landmarks | Mapping[str, object],
    *,
    bone_threshold: float | None = None,
    options: SacroplastyOptions | None = None,
    sacrum_mask=None,
) -> SacroplastyPlan:
    """Plan sacroplasty needles on ``volume`` from ``landmarks`` (seed 001; CLINICAL.md section 3).

    One-shot form of :func:`run`; keep a :class:`SacroplastyPlanner` to re-plan fast while
    landmarks move.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    landmarks : Landmarks or mapping label -> (3,) LPS mm
        Needs :func:`required_sacroplasty_labels`.
    bone_threshold : float, optional
        HU; None = the per-scan threshold (:func:`bonequality.imaging.threshold.bone_threshold`).
    options : SacroplastyOptions, optional
    sacrum_mask : Volume or bool ndarray on ``volume``'s grid, optional
        A sacrum segmentation: then it decides what is inside the sacrum (the envelope).

    Returns
    -------
    SacroplastyPlan
    """
    return run(
        SacroplastyInputs(
            volume, landmarks, bone_threshold=bone_threshold, options=options, sacrum_mask=sacrum_mask
        )
    )
