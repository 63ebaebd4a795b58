"""Sacroplasty needle planning from the corners of S1 (seed 001, CLINICAL.md section 3).

Seed 001 (a landmark for fluoroscopically guided sacroplasty) defines the needle target
on the lateral view as the crossing of two lines drawn between the corners of the first
sacral segment, and measures how far the anterior sacral cortex lies beyond that target
along three needle trajectories, each turned medio-laterally to run parallel to the
sacroiliac joint.

Definitions implemented here (all coordinates LPS millimetres; ``x`` = patient left,
``y`` = posterior, ``z`` = superior; "anterior" is ``-y``):

* Line A runs ``S1_corner_PS -> S1_corner_AI``, line B ``S1_corner_AS -> S1_corner_PI``.
  The midsagittal target ``T`` is the midpoint of their common perpendicular
  (:func:`bonequality.geometry.closest_points`); its length is the *skew gap*.
* The side target ``T_X`` keeps the ``y`` (AP) and ``z`` (CC) of ``T``; its ``x`` (LR) is
  the middle of the ala, midway between ``S1_foramen_sup_X`` and ``SI_joint_ventral_sup_X``.
  A placed ``sacroplasty_target_X`` replaces it.
* Each trajectory has a *sagittal direction* ``s`` (its lateral-view, i.e. ``y-z``, part):
  ``disc_parallel`` = ``S1_corner_PS -> S1_corner_AS``; ``axial`` = ``(0, -1, 0)``;
  ``long_axis`` = ``S3_body_center ->`` the mean of the four corners. The side's *joint
  direction* ``j`` is ``SI_joint_dorsal_X -> SI_joint_ventral_sup_X`` projected on the
  axial plane (its ``x-y`` part). The needle direction is the unique direction whose
  sagittal projection is parallel to ``s`` and whose axial projection is parallel to
  ``j``: ``d ∝ (s_y * j_x / j_y, s_y, s_z)`` (both ``s_y`` and ``j_y`` point anterior,
  so the factor ``s_y / j_y`` is positive). This is how the needle is set up under
  fluoroscopy: the cranio-caudal angle on the lateral view, parallel to the joint on the
  axial view. All three trajectories of one side therefore lie in one plane, the
  sagittal-oblique plane through ``T_X`` spanned by ``j`` and ``z`` (seed 001 Fig. 1C),
  which :func:`reformat_along_joint` samples.
* Along each trajectory (the line through ``T_X`` with direction ``d``) the CT is sampled
  every ``step_mm`` and classified with the bone threshold. As in CLINICAL.md section 2
  ("Bone surface"), the ray has left the bone only where HU stays below the threshold for
  at least ``min_exit_run_mm``; shorter low-HU stretches between bone count as inside.
  ``T_X`` is *in bone* when the ray meets bone within ``max_marrow_mm`` (30 mm) in front
  of it: ala marrow is often fatty and below any bone threshold, so the target itself
  may read -30 HU although it lies inside the ala. The *anterior cortex* is where the ray
  then leaves that bone (threshold crossing interpolated between samples); the distance
  is positive. For a target with no bone in front of it (presacral soft tissue) the
  distance is measured back to the outer surface of the last bone behind it and is
  negative: a breach (seed 001 Fig. 3). A target behind the sacrum would wrongly count
  as inside; the landmarks (S1 corners) rule that out in practice.
* The *skin entry* is the first tissue -> air crossing (``air_hu``, default -500 HU,
  air sustained >= ``min_air_run_mm``) behind ``T_X``; the *dorsal bone entry* is the
  first bone sample met from the skin towards the target; the *needle depth* is
  ``|T_X - skin|``.
* A *low-HU gap* (neural foramen or sacral canal crossed before the target) is a run of
  at least ``gap_min_mm`` below ``gap_hu`` strictly between the dorsal bone entry and the
  target, with denser tissue on both sides.

* The bone threshold is the user's or, by default, the per-scan threshold
  :func:`bonequality.imaging.threshold.bone_threshold` of the CT and the landmarks: the
  same number the screw corridors report for that scan and landmark file.

Categories follow seed 001 Table 1: ``"<3 mm"``, ``"3-10 mm"``, ``">10 mm"`` (negative
distances are ``"<3 mm"``).

Modules: :mod:`.options` (constants, trajectories, categories, options), :mod:`.targets`
(landmark checks, targets, directions), :mod:`.rays` (one needle ray), :mod:`.planner`,
:mod:`.result`, :mod:`.inputs`, :mod:`.analysis` (:func:`run`), :mod:`.reformat` and
:mod:`.report` (figure and output files).
"""

from .analysis import plan_sacroplasty, run
from .inputs import SacroplastyInputs
from .options import (
    CATEGORIES,
    CORNERS,
    REFERENCE,
    SIDES,
    TRAJECTORIES,
    SacroplastyOptions,
    TrajectorySpec,
    category,
    required_sacroplasty_labels,
)
from .planner import SacroplastyPlanner
from .reformat import Reformat, reformat_along_joint, reformat_midsagittal, reformat_plane
from .report import plot_plan
from .result import SacroplastyPlan, SideResult, TrajectoryResult

__all__ = [
    "CATEGORIES",
    "CORNERS",
    "REFERENCE",
    "SIDES",
    "TRAJECTORIES",
    "Reformat",
    "SacroplastyInputs",
    "SacroplastyOptions",
    "SacroplastyPlan",
    "SacroplastyPlanner",
    "SideResult",
    "TrajectoryResult",
    "TrajectorySpec",
    "category",
    "plan_sacroplasty",
    "plot_plan",
    "reformat_along_joint",
    "reformat_midsagittal",
    "reformat_plane",
    "required_sacroplasty_labels",
    "run",
]
