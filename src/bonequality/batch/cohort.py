"""A synthetic phantom cohort with a manifest, to run and test the batch pipeline.

:func:`write_phantom_cohort` writes ``N`` varied cases from the phantom generators of
:mod:`bonequality.phantoms` and ``DIR/manifest.csv``. Kinds cycle pelvis, vertebra,
pelvis, cemented vertebra (half pelvises, a quarter each of the others). Every case has
an age (35-90 y, uniform) and a sex; the variation is "age-like":

* **Pelvis** (corridors, sacroplasty): the density is a blend of the phantom's normal
  and osteoporotic HU tables, ``HU = (1 - t) HU_normal + t HU_osteoporotic`` with
  ``t = (age - 45) / 35 + N(0, 0.25)`` clipped to [-0.3, 1.3]. Every material of
  :func:`~bonequality.phantoms.pelvis.pelvis_hu` is painted with an affine ramp, so
  blending the two generated volumes voxel by voxel *is* the phantom evaluated with the
  blended table (up to int16 rounding); L5 trabecular HU is then ``180 - 105 t``
  (recorded as ``phantom_L5_hu``), osteoporotic (<= 100 HU) for ``t >= 0.76``.
* **Vertebra** (focal defect; a ``fracture`` status drawn with probability 0.45): the
  phantom's HU above the soft-tissue level (40 HU) are scaled by a density factor
  ``f = 1.1 - 0.006 (age - 40) - 0.15 fracture + N(0, 0.06)`` clipped to [0.5, 1.2]:
  ``HU' = 40 + f (HU - 40)`` where ``HU > 40``. Fractured vertebrae are therefore less
  dense, as in seed 004 (BMD 78 vs 124 mg/cm³).
* **Cemented vertebra** (cement): the phantom's cement is trimmed to vary the volume
  fraction and the distribution score (seed 003): half of them keep the designed
  distribution (score 8, group B) with 0-4 mm trimmed from the bottom of the cement; the
  other half lose the cement above ``z = zc`` (zc 0-4 mm; no cement in the upper third,
  group A) and, with probability 0.5, the middle blob too. Trimmed cement becomes
  trabecular bone (300 HU).

The generators have no density or cement-fill options yet; the post-processing above is
the documented substitute. Pelvises use 1.5 mm voxels, cemented vertebrae 1.0 mm and
focal-defect vertebrae the 0.5 mm their texture needs (with a smaller body), so a
40-case cohort runs in minutes.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..outputs import atomic_output_dir
from ..progress import ProgressCallback, report

__all__ = ["COHORT_KINDS", "CohortOptions", "write_phantom_cohort"]

log = logging.getLogger(__name__)

#: Case kinds in the order they cycle, with the analyses each one gets.
COHORT_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pelvis", ("corridors", "sacroplasty")),
    ("vertebra", ("focal-defect",)),
    ("pelvis", ("corridors", "sacroplasty")),
    ("cemented-vertebra", ("cement",)),
)

_SOFT_TISSUE_HU = 40.0
_CEMENT_HU = 1000.0
_TRABECULAR_HU = 300.0


@dataclass(frozen=True)
class CohortOptions:
    """Grid sizes of the cohort's phantoms (mm, x y z) and the random seed."""

    pelvis_spacing: tuple[float, float, float] = (1.5, 1.5, 1.5)
    vertebra_spacing: tuple[float, float, float] = (0.5, 0.5, 0.5)
    vertebra_semi_axes_mm: tuple[float, float] = (16.0, 12.0)
    vertebra_height_mm: float = 20.0
    cemented_spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    seed: int = 0


def _base(key: tuple, make, cache: dict):
    """Each base phantom is generated once per cohort; the cases vary it."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _pelvis(rng: np.random.Generator, age: float, opts: CohortOptions, cache: dict):
    from ..phantoms.pelvis import HU_NORMAL, HU_OSTEOPOROTIC, make_pelvis

    t = float(np.clip((age - 45.0) / 35.0 + rng.normal(0.0, 0.25), -0.3, 1.3))
    normal = _base(
        ("pelvis", False), lambda: make_pelvis(osteoporotic=False, spacing=opts.pelvis_spacing), cache
    )
    osteo = _base(
        ("pelvis", True), lambda: make_pelvis(osteoporotic=True, spacing=opts.pelvis_spacing), cache
    )
    a = normal.volume.array.astype(np.float32)
    b = osteo.volume.array.astype(np.float32)
    arr = np.round(a + t * (b - a)).astype(np.int16)
    l5 = HU_NORMAL["L5_trabecular"] + t * (HU_OSTEOPOROTIC["L5_trabecular"] - HU_NORMAL["L5_trabecular"])
    phantom = type(normal)(
        name="pelvis",
        volume=normal.volume.with_array(arr),
        truth={"density_blend_t": t, "L5_trabecular_hu": l5, "normal_truth": normal.truth},
        landmarks=normal.landmarks,
    )
    return phantom, {"density_factor": round(1.0 - t, 3), "phantom_L5_hu": round(l5, 1)}


def _vertebra(rng: np.random.Generator, age: float, opts: CohortOptions, fracture: bool, cache: dict):
    from ..phantoms.vertebra import VERTEBRA, make_vertebra

    f = float(np.clip(1.1 - 0.006 * (age - 40.0) - 0.15 * fracture + rng.normal(0.0, 0.06), 0.5, 1.2))
    p = _base(
        ("vertebra",),
        lambda: make_vertebra(
            spacing=opts.vertebra_spacing,
            body_semi_axes_mm=opts.vertebra_semi_axes_mm,
            body_height_mm=opts.vertebra_height_mm,
        ),
        cache,
    )
    a = p.volume.array.astype(np.float32)
    above = a > _SOFT_TISSUE_HU
    a[above] = _SOFT_TISSUE_HU + f * (a[above] - _SOFT_TISSUE_HU)
    phantom = type(p)(
        name=p.name,
        volume=p.volume.with_array(np.round(a).astype(np.int16)),
        truth={"density_factor": f, "vertebra_truth": p.truth},
        landmarks=p.landmarks,
        masks=p.masks,
    )
    # The phantom's nominal calibration (its rods): HU = hu0 + k * BMD, so BMD = HU / k - hu0 / k.
    k, hu0 = VERTEBRA["hu_per_mg_cm3"], VERTEBRA["hu_at_zero_density"]
    extra = {"density_factor": round(f, 3), "calibration_slope": 1.0 / k, "calibration_intercept": -hu0 / k}
    return phantom, extra


def _cemented(rng: np.random.Generator, opts: CohortOptions, extensive: bool, cache: dict):
    from ..phantoms.cemented import BODY, CEMENT_BLOBS, make_cemented_vertebra

    p = _base(("cemented",), lambda: make_cemented_vertebra(spacing=opts.cemented_spacing), cache)
    vol = p.volume
    nk, nj, ni = vol.array.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    x, y, z = vol.index_to_physical(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)).T
    in_blob = {}
    for name, blob in CEMENT_BLOBS.items():
        (cx, cy), (sa, sb) = blob["center"], blob["semi"]
        # a little margin around each blob so its ramped edge goes too
        in_blob[name] = (((x - cx) / (sa + 1.0)) ** 2 + ((y - cy) / (sb + 1.0)) ** 2 <= 1.0) & (
            np.abs(z) <= BODY["half_height"] - BODY["cortex"]
        )
    trim = np.zeros(x.shape, dtype=bool)
    if extensive:
        z_bottom = -11.0 + float(rng.uniform(0.0, 4.0))
        trim |= (in_blob["L"] | in_blob["M"]) & (z < z_bottom)
        note = f"cement below z={z_bottom:.1f} mm removed"
    else:
        zc = float(rng.uniform(0.0, 4.0))
        trim |= (in_blob["L"] | in_blob["M"]) & (z > zc)
        note = f"cement above z={zc:.1f} mm removed"
        if rng.random() < 0.5:
            trim |= in_blob["M"]
            note += ", middle blob removed"
    arr = vol.array.reshape(-1).copy()
    arr[trim & (arr >= _CEMENT_HU * 0.3)] = _TRABECULAR_HU
    phantom = type(p)(
        name=p.name,
        volume=vol.with_array(arr.reshape(vol.array.shape)),
        truth={"cement_edit": note, "designed_extensive": extensive, "cemented_truth": p.truth},
        landmarks=p.landmarks,
        masks=p.masks,
    )
    return phantom, {"cement_edit": note}


MANIFEST_COLUMNS = (
    "case_id",
    "ct",
    "landmarks",
    "mask",
    "vertebra_mask",
    "calibration_slope",
    "calibration_intercept",
    "analyses",
    "kind",
    "age",
    "sex",
    "fracture",
    "density_factor",
    "phantom_L5_hu",
    "cement_edit",
)


def write_phantom_cohort(
    out: str | os.PathLike,
    n: int,
    *,
    options: CohortOptions | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``n`` varied phantom cases and ``out/manifest.csv``; returns the manifest's path.

    Images go to ``out/images/<case_id>.nrrd`` with ``<case_id>.mrk.json`` (pelvis
    landmarks, LPS), ``<case_id>.body.nrrd`` and ``<case_id>.vertebra.nrrd`` (masks) and
    ``<case_id>.truth.json``. The whole folder is written atomically
    (:func:`~bonequality.outputs.atomic_output_dir`: an earlier cohort there is replaced
    only with ``overwrite``).
    """
    from ..phantoms import write_phantom

    if n < 1:
        raise InputFileError(f"--n {n}: give at least one case.")
    opts = options or CohortOptions()
    rng = np.random.default_rng(opts.seed)
    rows = []
    cache: dict = {}
    with atomic_output_dir(out, "phantom-cohort", overwrite=overwrite) as stage:
        (stage / "images").mkdir()
        for i in range(n):
            kind, analyses = COHORT_KINDS[i % len(COHORT_KINDS)]
            case_id = f"{kind.split('-')[0][:4]}{i + 1:03d}"
            report(progress, i / n, f"phantom {case_id}")
            age = float(np.round(rng.uniform(35.0, 90.0)))
            sex = "F" if rng.random() < 0.55 else "M"
            row = dict.fromkeys(MANIFEST_COLUMNS, "")
            row.update(case_id=case_id, analyses=";".join(analyses), kind=kind, age=f"{age:.0f}", sex=sex)
            if kind == "pelvis":
                phantom, extra = _pelvis(rng, age, opts, cache)
            elif kind == "vertebra":
                fracture = bool(rng.random() < 0.45)
                phantom, extra = _vertebra(rng, age, opts, fracture, cache)
                row["fracture"] = str(int(fracture))
            else:
                phantom, extra = _cemented(rng, opts, bool(i // len(COHORT_KINDS) % 2 == 0), cache)
            row.update({k: str(v) for k, v in extra.items()})
            paths = write_phantom(phantom, stage / "images" / f"{case_id}.nrrd")
            rel = {k: f"images/{Path(v).name}" for k, v in paths.items()}
            row["ct"] = rel["image"]
            row["landmarks"] = rel.get("landmarks", "")
            row["mask"] = rel.get("mask:body", "")
            row["vertebra_mask"] = rel.get("mask:vertebra", "")
            rows.append(row)
        with (stage / "manifest.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        report(progress, 1.0, f"{n} phantoms written")
    return Path(out) / "manifest.csv"
