"""What the cement analysis measured: :class:`CementResult` and its parts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..imaging.canal import CanalInfo
from .options import CementOptions
from .screws import ScrewContact

if TYPE_CHECKING:
    from .inputs import CementInputs

__all__ = ["CementResult", "DistributionScore", "SacroplastyResult"]


def _num(v) -> float:
    return math.nan if v is None else float(v)


@dataclass(frozen=True)
class DistributionScore:
    """Seed 003's 0-10 spatial distribution score computed in 3-D.

    Attributes
    ----------
    coronal, sagittal, axial, total : int
    group : str
        ``"A"`` (limited, 0-7) or ``"B"`` (extensive, 8-10).
    zones : dict
        Cement fraction per zone: ``coronal`` {right, middle, left}, ``sagittal``
        {caudal, middle, cranial}, ``axial`` {left_anterior, left_posterior,
        right_anterior, right_posterior} (on the best slab).
    x_edges_mm, z_edges_mm : tuple of 4 float
        LPS x (coronal thirds) and z (sagittal thirds) boundaries of the zones.
    axial_center_mm : (float, float)
        LPS x, y where the quadrants of the best slab meet.
    best_axial_z_mm : float or None
        LPS z of the best axial slab's centre.
    min_zone_fraction : float
        The minimum cement fraction that made a zone count.
    """

    coronal: int
    sagittal: int
    axial: int
    total: int
    group: str
    zones: dict
    x_edges_mm: tuple
    z_edges_mm: tuple
    axial_center_mm: tuple
    best_axial_z_mm: float | None
    min_zone_fraction: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SacroplastyResult:
    """Cement in a sacrum: per region (left ala, body band, right ala) and leakage per location."""

    sacrum_ml: float
    cement_ml: dict
    leakage_ml: float
    leakage_by_location: dict
    cement_mask: np.ndarray = field(repr=False)
    leakage_mask: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "sacrum_ml": self.sacrum_ml,
            "cement_ml": dict(self.cement_ml),
            "cement_total_ml": float(sum(self.cement_ml.values())),
            "leakage_ml": self.leakage_ml,
            "leakage_by_location": dict(self.leakage_by_location),
        }


@dataclass(frozen=True, eq=False)
class CementResult:
    """Everything :func:`bonequality.cement.run` measured.

    Masks are boolean arrays on the CT grid (``[k, j, i]``). ``to_dict()`` gives the
    JSON summary (the keys of issue 6 plus details); volumes in ml, distances in mm.
    ``cortex`` is what the ``"cement"`` leak rule measured and set aside
    (:class:`~bonequality.cement.cortex.CortexDecision`, None with ``"threshold"``);
    ``warnings`` what looked wrong with the inputs although a result was given.
    """

    vbv_ml: float
    cdv_ml: float
    vf_percent: float
    predicted_extensive: bool
    leakage_ml: float
    leakage_by_location: dict
    nearest_leak_to_canal_mm: float | None
    distribution_score: DistributionScore | None
    side_fraction: dict
    body_source: str
    canal: CanalInfo
    options: CementOptions
    seconds: float
    body_mask: np.ndarray = field(repr=False)
    cement_mask: np.ndarray = field(repr=False)
    leakage_mask: np.ndarray = field(repr=False)
    sacroplasty: SacroplastyResult | None = None
    screws: tuple[ScrewContact, ...] = ()
    cortex: dict | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "vbv_ml": self.vbv_ml,
            "cdv_ml": self.cdv_ml,
            "vf_percent": self.vf_percent,
            "predicted_extensive": self.predicted_extensive,
            "vf_cutoff_percent": self.options.vf_cutoff_percent,
            "leakage_ml": self.leakage_ml,
            "leakage_by_location": dict(self.leakage_by_location),
            "nearest_leak_to_canal_mm": self.nearest_leak_to_canal_mm,
            "distribution_score": None
            if self.distribution_score is None
            else self.distribution_score.to_dict(),
            "side_fraction": dict(self.side_fraction),
            "body_source": self.body_source,
            "canal": self.canal.to_dict(),
            "sacroplasty": None if self.sacroplasty is None else self.sacroplasty.to_dict(),
            "screws": [s.to_dict() for s in self.screws],
            "leak_rule": self.options.leak_rule,
            "cortex": None if self.cortex is None else dict(self.cortex),
            "warnings": list(self.warnings),
            "options": asdict(self.options),
            "seconds": self.seconds,
        }

    def figures(self) -> dict[str, float | str | bool]:
        """The flat per-case figures of ``cohort.csv`` (the cohort report's column names).

        VBV, CDV, VF %, the prediction, leakage (total and per location), the distribution
        score and group, the body source and the cement fraction per side.
        """
        score = self.distribution_score
        out: dict[str, float | str | bool] = {
            "vbv_ml": self.vbv_ml,
            "cdv_ml": self.cdv_ml,
            "vf_percent": self.vf_percent,
            "predicted_extensive": bool(self.predicted_extensive),
            "leakage_ml": self.leakage_ml,
            "distribution_score": math.nan if score is None else int(score.total),
            "distribution_group": "" if score is None else score.group,
            "body_source": self.body_source,
        }
        for loc, ml in dict(self.leakage_by_location).items():
            out[f"leakage_{loc}_ml"] = _num(ml)
        for side, frac in dict(self.side_fraction).items():
            out[f"side_{side}_fraction"] = _num(frac)
        return out

    def summary(self, inputs: CementInputs | None = None) -> dict:
        """What ``summary.json`` holds: :meth:`to_dict` plus ``"inputs"`` (file names) when known."""
        out = self.to_dict()
        if inputs is not None and inputs.sources:
            out["inputs"] = dict(inputs.sources)
        return out

    def write(self, out_dir: Path, inputs: CementInputs) -> None:
        """``summary.json``, ``segments.seg.nrrd`` and ``report.png`` into the existing ``out_dir``.

        See :func:`bonequality.cement.report.write_result`.
        """
        from .report import write_result

        write_result(self, Path(out_dir), inputs)
