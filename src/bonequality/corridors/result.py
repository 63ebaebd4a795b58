"""The corridor analysis result: region means, z-scores, JSON/CSV and the per-case figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .geometry import S1Geometry, S2Geometry
from .l5 import L5Result
from .options import REFERENCE_COHORT, REGIONS, CorridorOptions
from .probes import ProbeResult

if TYPE_CHECKING:
    from .inputs import CorridorInputs

__all__ = ["CorridorResult", "measures", "z_scores"]


def z_scores(values: dict[str, float]) -> dict[str, dict[str, float]]:
    """z-scores of measures (keys of :data:`REFERENCE_COHORT` rows) against every group."""
    return {
        group: {
            k: (float(v) - mean) / sd for k, v in values.items() if k in table for _, mean, sd in [table[k]]
        }
        for group, table in REFERENCE_COHORT.items()
    }


def measures(s1: ProbeResult, s2: ProbeResult, l5: L5Result) -> dict[str, float]:
    """Flat measures keyed as in :data:`REFERENCE_COHORT` (``L5``, ``S1_body``, ...)."""
    out = {"L5": l5.mean_hu}
    for key, probe in (("S1", s1), ("S2", s2)):
        for region in REGIONS:
            out[f"{key}_{region}"] = probe.region_means[region]
    return out


@dataclass(frozen=True)
class CorridorResult:
    """Everything the corridor analysis measures (LPS mm, HU, ml).

    ``s1``/``s2`` are :class:`ProbeResult`; ``s1_geometry``/``s2_geometry`` the corridor
    construction; ``l5`` the L5 density; ``z_scores`` group -> measure -> z.
    """

    bone_threshold_hu: float
    threshold_source: str
    s1_geometry: S1Geometry
    s2_geometry: S2Geometry
    s1: ProbeResult
    s2: ProbeResult
    l5: L5Result
    z_scores: dict
    options: CorridorOptions = field(default_factory=CorridorOptions)

    def measures(self) -> dict[str, float]:
        """Flat measures keyed as in :data:`REFERENCE_COHORT`."""
        return measures(self.s1, self.s2, self.l5)

    def to_dict(self) -> dict:
        """The ``summary.json`` content (keys of issue 3) plus geometry details."""
        out = {
            "bone_threshold_hu": self.bone_threshold_hu,
            "bone_threshold_source": self.threshold_source,
            "l5": self.l5.to_dict(),
            "z_scores": self.z_scores,
        }
        for key, probe, geom in (("S1", self.s1, self.s1_geometry), ("S2", self.s2, self.s2_geometry)):
            d = probe.to_dict()
            d["z_scores"] = {
                g: {r: z[f"{key}_{r}"] for r in REGIONS if f"{key}_{r}" in z}
                for g, z in self.z_scores.items()
            }
            d["geometry"] = geom.to_dict()
            out[key] = d
        out["S2"]["ventral_shift_mm"] = self.s2_geometry.ventral_shift_mm
        out["S2"]["ventral_moved"] = self.s2_geometry.moved
        return out

    def profiles_frame(self):
        """pandas DataFrame: ``corridor``, ``percent`` (0.5 ... 99.5), ``mean_hu``."""
        import pandas as pd

        return pd.concat(
            [
                pd.DataFrame({"corridor": p.corridor, "percent": p.percent, "mean_hu": p.profile_hu})
                for p in (self.s1, self.s2)
            ],
            ignore_index=True,
        )

    def figures(self) -> dict[str, float | str | bool]:
        """The flat per-case figures of ``cohort.csv`` (the cohort report's column names).

        L5 HU, ROI volume and group, the bone threshold, per probe the corridor, body and
        alae means, length, minimum free radius and screw fit per diameter, and the S2
        dorsal shift.
        """
        out: dict[str, float | str | bool] = {
            "L5_hu": self.l5.mean_hu,
            "L5_roi_ml": self.l5.roi_volume_ml,
            "L5_group": self.l5.group,
            "bone_threshold_hu": self.bone_threshold_hu,
        }
        for key, probe in (("S1", self.s1), ("S2", self.s2)):
            out[f"{key}_corridor_hu"] = probe.region_means["corridor"]
            out[f"{key}_body_hu"] = probe.region_means["body"]
            out[f"{key}_alae_hu"] = probe.region_means["alae"]
            out[f"{key}_length_mm"] = probe.length_mm
            out[f"{key}_min_free_radius_mm"] = probe.min_free_radius_mm
            for d, ok in probe.screw_fit.items():
                out[f"{key}_fits_{d:g}mm"] = bool(ok)
        out["S2_dorsal_shift_mm"] = float(self.s2_geometry.ventral_shift_mm)
        out["S2_moved"] = bool(self.s2_geometry.moved)
        return out

    def write(self, out_dir: Path, inputs: CorridorInputs) -> None:
        """``summary.json``, ``profiles.csv`` and ``report.png`` into the existing ``out_dir``.

        See :func:`bonequality.corridors.report.write_result`.
        """
        from .report import write_result

        write_result(self, Path(out_dir), inputs)
