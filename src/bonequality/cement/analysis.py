"""The cement analysis of one CT: :func:`run` (and :func:`analyze_cement`, its keyword form)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from ..errors import InputFileError
from ..imaging.body import BodySource, as_mask, vertebral_body
from ..imaging.canal import CanalInfo
from ..imaging.grid import bbox_slices, crop, voxel_points
from ..progress import ProgressCallback, report
from ..volume import Volume
from .cortex import CortexDecision, separate_cortex, surely_cement
from .detect import detect_cement
from .inputs import CementInputs
from .leaks import leak_locations
from .options import CementOptions
from .result import CementResult
from .sacral import analyze_sacroplasty
from .score import distribution_score, side_fraction, vf_percent
from .screws import Screw, ScrewContact, screw_contact

log = logging.getLogger(__name__)

__all__ = ["analyze_cement", "run"]


def _body_in_search_box(
    inputs: CementInputs,
) -> tuple[CanalInfo, tuple[slice, ...], Volume, np.ndarray, tuple]:
    """The vertebral body and the cement search box around it (``leak_search_mm``).

    Returns the canal, the box's ``[k, j, i]`` slices on the CT grid, the CT cropped to it,
    the body mask in it and the body's warnings.
    """
    volume, options = inputs.ct, inputs.options
    vb = vertebral_body(
        volume,
        inputs.body,
        options=options.body_options(),
        # Cement is in the bone range too: a leak touching an endplate or the cortex would
        # join a body grown from a seed. Cement inside the body is enclosed by its shell
        # and comes back when the voids are filled. With the cement leak rule only what is
        # surely cement is kept out: dense cortex is the body's wall.
        exclude=lambda sub: _seed_exclusion(sub, options),
    )
    margin = np.ceil(options.leak_search_mm / volume.spacing).astype(int)[::-1]
    work = crop(volume, vb.slices)
    body = vb.mask[vb.slices]
    box = bbox_slices(body, margin)
    sl = tuple(slice(a.start + b.start, a.start + b.stop) for a, b in zip(vb.slices, box))
    return vb.canal, sl, crop(work, box), body[box], vb.warnings


def _seed_exclusion(sub: Volume, options: CementOptions) -> np.ndarray:
    candidates = detect_cement(sub, options=options)
    if options.leak_rule == "threshold":
        return candidates
    return surely_cement(sub, candidates, options=options)


def _cement(
    inputs: CementInputs, sl, sub: Volume, body: np.ndarray
) -> tuple[np.ndarray, CortexDecision | None]:
    """Cement voxels of the box: the threshold and cortical check, then the leak rule."""
    options = inputs.options
    cement = detect_cement(sub, options=options)
    if options.leak_rule == "threshold":
        return cement, None
    vertebra = None
    if inputs.body.kind == "vertebra_mask":
        vertebra = as_mask(inputs.body.mask, inputs.ct, inputs.body.label)[sl]
    decision = separate_cortex(sub, cement, body, options=options, vertebra=vertebra)
    return decision.cement, decision


def _cortex_warnings(decision: CortexDecision | None) -> list[str]:
    if decision is None or decision.rejected_ml.get("no_cement_in_body", 0.0) <= 0:
        return []
    ml = decision.rejected_ml["no_cement_in_body"]
    msg = (
        f"dense components outside the vertebral body ({ml:.2f} ml) look like cement, but the body "
        "holds none, so they cannot have leaked from it and are not counted as leakage "
        "(leak rule 'threshold' counts them)."
    )
    log.warning(msg)
    return [msg]


def _score(volume: Volume, body_pts: np.ndarray, cement_pts: np.ndarray, options: CementOptions):
    """The distribution score on slabs at least one voxel (along LPS z) thick."""
    zext = float(np.abs(volume.direction[2, :]) @ volume.spacing)
    return distribution_score(
        body_pts,
        cement_pts,
        slab_mm=max(options.axial_slab_mm, zext),
        min_zone_fraction=options.min_zone_fraction,
        extensive_min_score=options.extensive_min_score,
    )


def _on_grid(shape, sl: tuple[slice, ...], mask: np.ndarray) -> np.ndarray:
    full = np.zeros(shape, dtype=bool)
    full[sl] = mask
    return full


def _extras(inputs: CementInputs, masks: dict, progress) -> tuple:
    """The sacroplasty analysis and the screws' cement contact (all cement: body, leaks, sacrum)."""
    volume, options = inputs.ct, inputs.options
    sacro = None
    if inputs.sacrum_mask is not None:
        sacro = analyze_sacroplasty(volume, inputs.sacrum_mask, options=options, progress=None)
    contacts: tuple[ScrewContact, ...] = ()
    if inputs.screws:
        report(progress, 0.9, "screws")
        all_cement = masks["cement"] | masks["leak"]
        if sacro is not None:
            all_cement = all_cement | sacro.cement_mask | sacro.leakage_mask
        contacts = screw_contact(volume, all_cement, inputs.screws, options=options)
    return sacro, contacts


def run(inputs: CementInputs, *, progress: ProgressCallback | None = None) -> CementResult:
    """Vertebroplasty volumetry (seed 003): VBV, CDV, VF %, leakage, distribution score.

    Parameters
    ----------
    inputs : CementInputs
        The CT, the vertebral-body source, optional sacrum mask and screws, the options.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.

    Returns
    -------
    CementResult
    """
    t0 = time.perf_counter()
    volume, options = inputs.ct, inputs.options
    report(progress, 0.02, "vertebral body")
    canal, sl, sub, body, warnings = _body_in_search_box(inputs)
    report(progress, 0.5, "cement")
    cement, decision = _cement(inputs, sl, sub, body)
    warnings = (*warnings, *_cortex_warnings(decision))
    inside, leak = cement & body, cement & ~body
    vv = volume.voxel_volume_mm3
    vbv, cdv = float(body.sum()) * vv / 1000, float(inside.sum()) * vv / 1000
    report(progress, 0.7, "distribution score")
    body_pts, cement_pts = voxel_points(sub, body), voxel_points(sub, inside)
    score = _score(volume, body_pts, cement_pts, options)
    report(progress, 0.8, "leakage")
    by_loc, nearest = leak_locations(
        voxel_points(sub, leak), body_pts, canal, options, spacing=volume.spacing, voxel_volume_mm3=vv
    )
    masks = {
        k: _on_grid(volume.array.shape, sl, m)
        for k, m in (("body", body), ("cement", inside), ("leak", leak))
    }
    sacro, contacts = _extras(inputs, masks, progress)
    vf = vf_percent(cdv, vbv)
    seconds = time.perf_counter() - t0
    report(progress, 1.0, "done")
    log.info(
        "cement: VBV %.2f ml, CDV %.2f ml, VF %.1f %%, leak %.2f ml in %.2f s",
        vbv,
        cdv,
        vf,
        sum(by_loc.values()),
        seconds,
    )
    return CementResult(
        vbv_ml=vbv,
        cdv_ml=cdv,
        vf_percent=vf,
        predicted_extensive=bool(vf >= options.vf_cutoff_percent),
        leakage_ml=float(leak.sum()) * vv / 1000,
        leakage_by_location=by_loc,
        nearest_leak_to_canal_mm=nearest,
        distribution_score=score,
        side_fraction=side_fraction(body_pts, cement_pts),
        body_source=inputs.body.kind,
        canal=canal,
        options=options,
        seconds=seconds,
        body_mask=masks["body"],
        cement_mask=masks["cement"],
        leakage_mask=masks["leak"],
        sacroplasty=sacro,
        screws=contacts,
        cortex=None if decision is None else decision.to_dict(),
        warnings=tuple(warnings),
    )


def _body_source(body_mask, vertebra_mask, seed) -> BodySource:
    given = [
        n
        for n, v in (("body mask", body_mask), ("vertebra mask", vertebra_mask), ("seed", seed))
        if v is not None
    ]
    if len(given) != 1:
        raise InputFileError(
            "give exactly one of a body mask, a vertebra mask or a seed point "
            f"(got {', '.join(given) if given else 'none'})"
        )
    if body_mask is not None:
        return BodySource.body_mask(body_mask)
    if vertebra_mask is not None:
        return BodySource.vertebra_mask(vertebra_mask)
    return BodySource.seed_point(seed)


def analyze_cement(
    volume: Volume,
    *,
    body_mask=None,
    vertebra_mask=None,
    seed=None,
    sacrum_mask=None,
    screws: Sequence[Screw] | None = None,
    options: CementOptions | None = None,
    progress: ProgressCallback | None = None,
    name: str = "CT",
) -> CementResult:
    """:func:`run` with the inputs as arguments (builds the :class:`CementInputs`).

    Parameters
    ----------
    volume : Volume
        Post-operative CT in HU (any spacing and direction).
    body_mask, vertebra_mask : Volume or bool ndarray on the CT grid, optional
        Exactly one of ``body_mask``, ``vertebra_mask`` or ``seed``. A whole-vertebra mask
        has its posterior elements cut off at the spinal canal's anterior wall.
    seed : (3,) float, mm, LPS, optional
        A point in the vertebral body; bone (``bone_hu``) is grown from it within
        ``seed_radius_mm`` and cut at the canal like a vertebra mask.
    sacrum_mask : Volume or bool ndarray, optional
        Adds the sacroplasty analysis (:func:`analyze_sacroplasty`).
    screws : sequence of Screw, optional
        Adds each screw's cement contact fraction (all cement: body, leaks, sacrum).
    options : CementOptions, optional
        Default ``CementOptions()``.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.
    name : str
        How to call the CT in error messages (e.g. its file name).

    Raises
    ------
    InputFileError
        Not exactly one of ``body_mask``, ``vertebra_mask`` and ``seed``.
    """
    inputs = CementInputs(
        volume,
        _body_source(body_mask, vertebra_mask, seed),
        sacrum_mask=sacrum_mask,
        screws=tuple(screws or ()),
        options=options,
        name=name,
    )
    return run(inputs, progress=progress)
