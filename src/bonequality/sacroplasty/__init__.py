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
* **Inside the sacrum** is the *envelope* (:mod:`bonequality.imaging.envelope`): the region
  the cortical shell encloses, whatever the density inside it (fatty ala marrow is often
  below any bone threshold: seed 000 reports alar means near 0 HU and below). It is built
  once per plan from the CT with the plan's bone threshold (cortex at or above it, closing
  by a rolling ball of ``closing_mm``, hole filling in 3-D), in a box around the landmarks,
  and kept by the planner while landmarks move. A sacrum segmentation given by the user
  (``sacrum_mask``) *is* the envelope.
* **One decision per side**: ``target_in_bone`` is whether ``T_X`` lies in the envelope; it is
  the same for all three trajectories. For a target inside, each trajectory's distance is
  measured forward (the CT and envelope sampled every ``step_mm``) to where the ray leaves the
  envelope, refined to the cortex's outer surface (the HU threshold crossing within about one
  voxel of it, where the cortex reaches the threshold); it is positive. For a target outside,
  one *breach depth* (its shortest distance to the envelope, :mod:`.breach`) is reported,
  negative, on all three trajectories, and the BREACH warning names it and the cortex passed
  (anterior, dorsal, superior, inferior, lateral or medial). A target behind the sacrum,
  posterior to the dorsal cortex, is outside too. With a sacrum mask, a target outside the mask
  but inside the cortical shell is a breach whose warning names both.
* The *skin entry* is the first tissue -> air crossing (``air_hu``, default -500 HU,
  air sustained >= ``min_air_run_mm``) behind ``T_X``; the *dorsal bone entry* is the
  first bone sample (HU at or above the threshold) met from the skin towards the target, or
  where the ray enters the envelope when no sample reaches the threshold; the *needle
  depth* is ``|T_X - skin|``.
* A *low-HU gap* (neural foramen or sacral canal crossed before the target) is a run of
  at least ``gap_min_mm`` below ``gap_hu`` strictly between the dorsal bone entry and the
  target, with denser tissue on both sides; with a sacrum mask only runs that leave the mask
  (which leaves out the canal and the foramina) count. Fatty marrow is as dark, so in a
  fatty ala these are prompts to look, not findings.
* The *left-right line* between the two targets leaves the sacrum where, for at least 2 mm,
  it is outside the envelope or in a notch the closing bridged (looking anterior from it, the
  envelope ends before any cortex, :func:`.sides.lr_line_in_envelope`).

* The bone threshold is the user's or, by default, the per-scan threshold
  :func:`bonequality.imaging.threshold.bone_threshold` of the CT and the landmarks: the
  same number the screw corridors report for that scan and landmark file.

Categories follow seed 001 Table 1: ``"<3 mm"``, ``"3-10 mm"``, ``">10 mm"`` (negative
distances are ``"<3 mm"``).

Modules: :mod:`.options` (constants, trajectories, categories, options), :mod:`.targets`
(landmark checks, targets, directions), :mod:`.rays` (one needle ray), :mod:`.breach` (a
target outside), :mod:`.sides` (per-side warnings, the left-right line), :mod:`.planner`,
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
