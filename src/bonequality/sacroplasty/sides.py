"""Per-side warnings and the left-right line between the targets, read from the envelope."""

from __future__ import annotations

import numpy as np

from ..geometry import unit
from ..imaging.rays import runs
from .options import ANTERIOR, SacroplastyOptions

__all__ = ["breach_warning", "lr_line_in_envelope", "ray_warnings", "side_warnings"]

#: Step (mm) along the left-right line, and step and reach (mm) of the anterior look from each
#: of its points (the sacrum is far less than that deep).
LR_STEP_MM, LOOK_STEP_MM, LOOK_MM = 1.0, 1.0, 120.0
#: In the anterior look a cortex is at least this fraction of the bone threshold: a cortex
#: that partial volume thins below the threshold still shows, a soft-tissue cleft does not.
NOTCH_CORTEX_FRACTION = 0.75


def ray_warnings(name: str, m) -> list[str]:
    """Warnings of one ray's :class:`~bonequality.sacroplasty.rays.RayMeasures`."""
    out = []
    if m.exit_at_image_edge:
        out.append(f"{name}: still inside the sacrum where the ray leaves the image; distance unknown.")
    if m.skin_at_image_edge:
        out.append(
            f"{name}: the skin behind the target is outside the image; the needle depth "
            f"({-m.skin_t:.0f} mm) is a lower bound."
        )
    if not np.isfinite(m.entry_t):
        out.append(f"{name}: no bone between the skin and the target.")
    if m.gaps:
        where = ", ".join(f"from {-a:.1f} to {-b:.1f} mm" for a, b in m.gaps)
        what = "low-HU gaps" if len(m.gaps) > 1 else "a low-HU gap"
        out.append(
            f"{name}: crosses {what} (neural foramen, sacral canal or fatty marrow?) {where} before "
            "the target; check the trajectory on the images."
        )
    return out


def breach_warning(res, envelope, shell) -> str:
    """The BREACH warning of a side whose target lies outside the envelope (depth and cortex passed)."""
    where = np.round(res.target_lps, 1).tolist()
    depth = res.breach_depth_mm
    text = f"BREACH: the {res.side} target {where} lies outside the sacrum ({envelope.name})"
    if np.isfinite(depth):
        text += f", {depth:.1f} mm beyond the {res.breach_cortex}"
    text += " (seed 001 Fig. 3). Do not advance the needle to it; re-plan."
    if res.in_cortical_shell:
        text += (
            f" The {shell.name} holds it: the {envelope.name} and the cortical shell disagree here; "
            "check the mask and the target on the images."
        )
    return text


def side_warnings(res, rays, envelope, shell, threshold: float, warnings: list[str]) -> None:
    """Add one side's warnings: BREACH first, then per ray, then exits through a bridged gap."""
    if not res.target_in_bone:
        warnings.insert(0, breach_warning(res, envelope, shell))
    bridged = []
    for key, m in rays.items():
        warnings += ray_warnings(f"{res.side} {key}", m)
        if res.target_in_bone and np.isfinite(m.exit_t) and not m.cortex_crossed:
            bridged.append(f"{key} ({m.exit_t:.1f} mm)")
    if bridged:
        warnings.append(
            f"{res.side}: {', '.join(bridged)} leave the {envelope.name} where no cortex reaches "
            f"{threshold:.0f} HU (a cortex too thin for this scan, a foramen or a notch); check the "
            "anterior cortex on the images."
        )


def _in_front_is_cortex(volume, envelope, points: np.ndarray, threshold: float, o: SacroplastyOptions):
    """For points inside the envelope: whether looking anterior (-y) a cortex
    (>= :data:`NOTCH_CORTEX_FRACTION` of the threshold) comes before the envelope ends (False: the
    point lies in a notch the closing bridged)."""
    s = np.arange(0.0, min(o.max_forward_mm, LOOK_MM) + LOOK_STEP_MM / 2, LOOK_STEP_MM)
    pts = points[:, None, :] + s[None, :, None] * ANTERIOR
    inside = envelope.sample(pts) >= 0.5
    hu = volume.sample(pts)
    bone = np.isfinite(hu) & (hu >= NOTCH_CORTEX_FRACTION * threshold)
    out = ~inside
    first_out = np.where(out.any(axis=1), np.argmax(out, axis=1), s.size)
    seen = np.cumsum(bone, axis=1) > 0
    reach = np.minimum(first_out + 2, s.size - 1)
    return seen[np.arange(points.shape[0]), reach]


def lr_line_in_envelope(volume, envelope, a: np.ndarray, b: np.ndarray, threshold: float, options):
    """``(ok, message)``: whether the segment between the targets stays inside the sacrum.

    A point of the segment (sampled every 1 mm) is inside when it lies in the envelope
    and, looking anterior (``-y``) from it, a cortex (at least :data:`NOTCH_CORTEX_FRACTION`
    of the bone threshold) comes before the envelope ends: a point in a soft-tissue notch or
    cleft that the closing bridged is outside. The segment leaves the sacrum where at least
    2 mm in a row are outside.
    """
    d = unit(b - a, name="the line between the two targets")
    length = float(np.linalg.norm(b - a))
    t = np.arange(0.0, length + LR_STEP_MM / 2, LR_STEP_MM)
    pts = a + t[:, None] * d
    inside = envelope.contains(pts)
    if inside.any():
        inside[inside] = _in_front_is_cortex(volume, envelope, pts[inside], threshold, options)
    starts, ends = runs(~inside)
    for s_, e_ in zip(starts, ends):
        if e_ - s_ >= 2:
            return False, (
                "the left-right line between the two targets leaves the sacrum for about "
                f"{(e_ - s_) * LR_STEP_MM:.0f} mm from LPS {np.round(pts[s_], 1).tolist()} (outside the "
                f"{envelope.name}, or in a notch open to the front); check the targets on the images."
            )
    return True, ""
