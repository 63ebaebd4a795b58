"""Cement volumetry after vertebroplasty and sacroplasty (CLINICAL.md section 5).

The reading of seed 003 (VF % after percutaneous vertebroplasty, Mimics workflow):

* **Vertebral body** (:func:`bonequality.imaging.body.vertebral_body`): bone 226-3071 HU,
  posterior elements removed, internal voids filled. Its volume is **VBV**. The body
  comes from (a) a body mask (one that encloses a spinal canal holds the posterior
  elements: they are cut off, with a warning); (b) a whole-vertebra mask (TotalSegmentator,
  segment editor) whose posterior elements are cut off at the body's own posterior wall,
  found in 3-D along the vertebra's axis (:mod:`bonequality.imaging.canal`); or (c) a seed
  point grown in the bone range within ``seed_radius_mm`` (never into detected cement),
  then cut the same way. A mask that does not follow this CT's bone (one of another
  scan) or holds two vertebral bodies is refused.
* **Cement** (:mod:`.detect`): 1000-3000 HU. Cement inside the body is **CDV**; outside
  it (within ``leak_search_mm`` of the body's bounding box) it is **leakage**, reported
  per location (paravertebral, spinal canal or foramen, cranial disc, caudal disc) with
  the distance from the nearest leak to the spinal canal (:mod:`.leaks`).
* **VF % = CDV / VBV x 100** (:func:`vf_percent`); ``predicted_extensive`` when
  VF % >= 28.58 % (seed 003's ROC cut-off: sensitivity 72.2 %, specificity 91.7 %).
* **Distribution score 0-10** (:mod:`.score`), computed in 3-D instead of on radiographs:
  patient left/middle/right thirds of the body (coronal view, 0-3) + cranial/middle/caudal
  thirds (sagittal view, 0-3) + the four quadrants, split through the centre of the body's
  cross-section, of the best axial slab (0-4). A zone counts when cement fills at least
  ``min_zone_fraction`` (default 5 %) of the body volume (or, axially, the slab's body
  area) in that zone. 0-7 = group A (limited), 8-10 = group B (extensive).
* **Cortical-bone check**: dense cortex can exceed 1000 HU. Cement candidates are opened
  morphologically with a ball of diameter ``min_cement_thickness_mm`` (default 2 mm) and
  components under ``min_component_ml`` are dropped, so thin cortical shells (< 2 mm)
  are never reported as cement. Along a grid axis whose spacing exceeds the ball's radius
  the opening cannot act; there partial-volume averaging already lowers thin cortex.
* **Leak rule** (``leak_rule``, :mod:`.cortex`): with ``"cement"`` (default) thick dense
  cortex of the posterior elements and endplates, and sclerotic bone, are told from PMMA
  by their HU against this scan's own cortical shell, their place in the bone (cortical
  shell, the whole-vertebra mask, attached to other bone) and their link to the cement
  inside the body; no leak is counted when the body holds no cement. ``"threshold"``
  counts every candidate, as Mimics' raw number. ``summary.json`` records the rule, the
  cortical level and what was set aside.
* Sacroplasty (seeds 001/002, :mod:`.sacral`): cement per ala (and in the sacral body
  band) from a sacrum mask, leakage into the foramina, the sacral canal, the presacral
  space or elsewhere; and for screws given as lines with a diameter (:mod:`.screws`), the
  fraction of each screw's length in contact with cement (seed 002's "rebar and cement").

Left/right, cranial/caudal and anterior/posterior always refer to patient LPS axes
(x = left, y = posterior, z = cranial), whatever the image's direction matrix.

Public API: :class:`CementInputs` and :func:`run` (one analysis), :func:`analyze_cement`
(the same with the inputs as arguments), :meth:`CementResult.write` (``summary.json``,
``segments.seg.nrrd``, ``report.png``) and :meth:`CementResult.figures` (``cohort.csv``
columns).
"""

from __future__ import annotations

from ..imaging.body import BodySource
from .analysis import analyze_cement, run
from .canal import CanalInfo, find_canal
from .cortex import CortexDecision, separate_cortex
from .detect import detect_cement
from .inputs import CementInputs
from .options import HU_RANGE, LEAK_LOCATIONS, LEAK_RULES, SACRAL_LEAK_LOCATIONS, CementOptions
from .result import CementResult, DistributionScore, SacroplastyResult
from .sacral import analyze_sacroplasty
from .score import distribution_score, side_fraction, vf_percent
from .screws import Screw, ScrewContact, read_screws, screw_contact

__all__ = [
    "HU_RANGE",
    "LEAK_LOCATIONS",
    "LEAK_RULES",
    "SACRAL_LEAK_LOCATIONS",
    "BodySource",
    "CanalInfo",
    "CementInputs",
    "CementOptions",
    "CementResult",
    "CortexDecision",
    "DistributionScore",
    "SacroplastyResult",
    "Screw",
    "ScrewContact",
    "analyze_cement",
    "analyze_sacroplasty",
    "detect_cement",
    "distribution_score",
    "find_canal",
    "read_screws",
    "run",
    "screw_contact",
    "separate_cortex",
    "side_fraction",
    "vf_percent",
]
