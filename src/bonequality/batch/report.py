"""The cohort report ``DIR/report.html``: the seed papers' tables and figures.

Sections (each skipped with a note when its data are missing):

1. Cohort: counts and the failed and partly failed cases.
2. Seed 000 Table 1: L5, S1 and S2 figures as mean ± SD (range) for all cases,
   L5 <= 100 vs > 100 HU and age < 60 vs >= 60 years, with Mann-Whitney p-values.
3. Seed 000 Figure 5: Spearman correlation and linear regression of L5 HU against the
   S1 and S2 corridor, body and alae means.
4. Seed 000 Figure 6: mean S1 and S2 profiles (1 % bins) with SD bands per L5 group.
5. Seed 004 Tables 3-4: focal BMC loss, focal BMD loss, IncptWidth and BMD by fracture
   status, and odds ratios per 1 SD from logistic regression.
6. Seed 003 Figure 4 and Table 4: VF % by cement distribution group (A limited, B
   extensive), the ROC curve of VF % for group B and its best (Youden) cut-off.

The report reads ``DIR/cohort.csv`` and ``DIR/profiles.csv``; pictures go to
``DIR/report/*.png`` (matplotlib, Agg).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..outputs import atomic_file, atomic_replace_dir
from ..report import DemoSection, figure, write_html_report
from .stats import correlations, format_p, group_table, odds_ratios, profile_bands, roc

__all__ = ["COLUMNS", "cohort_sections", "write_cohort_report"]

log = logging.getLogger(__name__)

#: The cohort.csv columns the report uses (the analyses' ``result.figures()``, prefixed).
COLUMNS = {
    "L5": "corridors_L5_hu",
    "S1": {
        "S1 corridor": "corridors_S1_corridor_hu",
        "S1 body": "corridors_S1_body_hu",
        "S1 alae": "corridors_S1_alae_hu",
    },
    "S2": {
        "S2 corridor": "corridors_S2_corridor_hu",
        "S2 body": "corridors_S2_body_hu",
        "S2 alae": "corridors_S2_alae_hu",
    },
    "focal": {
        "Focal BMC loss (mm)": "focal_defect_bmc_loss_mm",
        "Focal BMD loss": "focal_defect_bmd_loss",
        "IncptWidth (mm)": "focal_defect_incpt_width_mm",
        "BMD": "focal_defect_bmd",
    },
    "vf": "cement_vf_percent",
    "cement_score": "cement_distribution_score",
    "cement_other": {"CDV (ml)": "cement_cdv_ml", "VBV (ml)": "cement_vbv_ml"},
}

#: Columns of ``DIR/profiles.csv`` (the corridors' per-case profiles.csv, as the CLI writes it).
PROFILE_PROBE, PROFILE_VALUE = "corridor", "mean_hu"

#: L5 threshold of the osteoporotic group (seed 000), HU; age threshold, years.
L5_THRESHOLD_HU = 100.0
AGE_THRESHOLD_Y = 60.0
#: Distribution score from which the cement distribution is extensive (group B, seed 003).
EXTENSIVE_SCORE = 8

_TRUE = {"1", "1.0", "true", "yes", "y", "fracture", "case", "vcf"}
_FALSE = {"0", "0.0", "false", "no", "n", "control", "none"}
_FEMALE = {"f", "female", "w", "woman", "weiblich"}


def _flag(series: pd.Series) -> pd.Series:
    """Yes/no text or 0/1 -> 1.0/0.0 (NaN when neither)."""
    s = series.astype(str).str.strip().str.lower()
    return s.map(lambda v: 1.0 if v in _TRUE else 0.0 if v in _FALSE else np.nan)


def _numeric(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(np.nan, index=df.index)


def _has(df: pd.DataFrame, *cols: str) -> bool:
    return all(c in df and pd.to_numeric(df[c], errors="coerce").notna().any() for c in cols)


def _save(fig, folder: Path, name: str) -> str:
    fig.savefig(folder / name, dpi=110, bbox_inches="tight")
    return f"report/{name}"


def _overview(cohort: pd.DataFrame) -> DemoSection:
    counts = cohort["status"].value_counts()
    cols = [c for c in ("case_id", "status", "error") if c in cohort]
    failed = cohort[cohort["status"].isin(("failed", "partial"))][cols]
    text = (
        f"{len(cohort)} cases: {counts.get('done', 0)} finished, {counts.get('partial', 0)} partly "
        f"finished (some analyses failed), {counts.get('failed', 0)} failed, {counts.get('pending', 0)} "
        "not run. Figures below use every analysis that finished; the failed ones are listed with "
        "their error (also in failures.csv, one row per failed analysis)."
    )
    return DemoSection("Cohort", text, failed if len(failed) else None)


def _table1(df: pd.DataFrame) -> list[DemoSection]:
    l5 = COLUMNS["L5"]
    if not _has(df, l5):
        return [DemoSection("Seed 000 Table 1", "Skipped: no corridors results (L5 HU) in this cohort.")]
    d = df[_numeric(df, l5).notna()].copy()
    d[l5] = _numeric(d, l5)
    columns = {"L5 (HU)": l5, **COLUMNS["S1"], **COLUMNS["S2"]}
    if "age" in d:
        d["age"] = _numeric(d, "age")
        columns = {"age (y)": "age", **columns}
    count_column = None
    if "sex" in d:
        d["female"] = d["sex"].astype(str).str.strip().str.lower().isin(_FEMALE).astype(int)
        count_column = ("female n (%)", "female")
    everyone = pd.Series(True, index=d.index)
    groupings = [
        ("all", {"all": everyone}),
        (
            "L5",
            {
                f"L5 > {L5_THRESHOLD_HU:.0f} HU": d[l5] > L5_THRESHOLD_HU,
                f"L5 ≤ {L5_THRESHOLD_HU:.0f} HU": d[l5] <= L5_THRESHOLD_HU,
            },
        ),
    ]
    notes = []
    if "age" in d and d["age"].notna().any():
        groupings.append(
            (
                "age",
                {
                    f"< {AGE_THRESHOLD_Y:.0f} y": d["age"] < AGE_THRESHOLD_Y,
                    f"≥ {AGE_THRESHOLD_Y:.0f} y": d["age"] >= AGE_THRESHOLD_Y,
                },
            )
        )
    else:
        notes.append("No numeric 'age' column: the age groups are left out.")
    table, _ = group_table(d, columns, groupings, count_column=count_column)
    text = (
        "Mean ± SD (range) in HU per group, as in seed 000 Table 1; p-values from the two-sided "
        "Mann-Whitney U test (female fraction: Fisher's exact test). Seed 000 reference "
        "(324 pelvises): L5 163 ± 68, S1 corridor 198 ± 71, S1 body 218 ± 77, S1 alae 70 ± 69, "
        "S2 corridor 143 ± 60, S2 body 133 ± 69, S2 alae 30 ± 55 HU. " + " ".join(notes)
    )
    return [DemoSection("Seed 000 Table 1: bone density by L5 group and age", text, table)]


def _figure5(df: pd.DataFrame, folder: Path) -> list[DemoSection]:
    l5 = COLUMNS["L5"]
    if not _has(df, l5):
        return [DemoSection("Seed 000 Figure 5", "Skipped: no corridors results (L5 HU).")]
    tables = []
    fig = figure(figsize=(11, 4.5))
    axes = fig.subplots(1, 2, sharey=True)
    colours = ("tab:orange", "tab:blue", "tab:grey")
    for ax, key in zip(axes, ("S1", "S2")):
        t = correlations(df, l5, COLUMNS[key])
        tables.append(t)
        x_all = _numeric(df, l5)
        for (heading, col), colour in zip(COLUMNS[key].items(), colours):
            y = _numeric(df, col)
            ok = x_all.notna() & y.notna()
            ax.scatter(x_all[ok], y[ok], s=14, color=colour, alpha=0.7)
            r = t[t["figure"] == heading]
            label = heading
            if len(r) and pd.notna(r["slope"].iloc[0]):
                xs = np.linspace(x_all[ok].min(), x_all[ok].max(), 2)
                ax.plot(xs, r["intercept"].iloc[0] + r["slope"].iloc[0] * xs, color=colour)
                label += f" (r²={r['r2'].iloc[0]:.2f}, ρ={r['spearman_rho'].iloc[0]:.2f})"
            ax.plot([], [], "o-", color=colour, label=label)
        ax.set_xlabel("L5 trabecular density (HU)")
        ax.set_title(f"{key} corridor figures against L5")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean density (HU)")
    img = _save(fig, folder, "fig5_l5_regression.png")
    text = (
        "Spearman correlation (ρ) and least-squares regression of each corridor figure on L5 HU "
        "(scipy.stats). Seed 000: S1 r = 0.84, S2 r = 0.79; adjusted r² of S1 body, corridor and "
        "alae on L5 0.705, 0.684 and 0.477."
    )
    table = pd.concat(tables, ignore_index=True)
    return [DemoSection("Seed 000 Figure 5: L5 against the S1 and S2 corridors", text, table, (img,))]


def _figure6(df: pd.DataFrame, profiles: pd.DataFrame | None, folder: Path) -> list[DemoSection]:
    l5 = COLUMNS["L5"]
    title = "Seed 000 Figure 6: mean S1 and S2 profiles by L5 group"
    if profiles is None or profiles.empty or not _has(df, l5):
        return [DemoSection(title, "Skipped: no corridor profiles (profiles.csv) or no L5 HU.")]
    x = _numeric(df, l5)
    groups = pd.Series(
        np.where(x > L5_THRESHOLD_HU, f"L5 > {L5_THRESHOLD_HU:.0f} HU", f"L5 ≤ {L5_THRESHOLD_HU:.0f} HU"),
        index=df["case_id"],
    )[x.notna().to_numpy()]
    bands = profile_bands(profiles, groups, probe=PROFILE_PROBE, value=PROFILE_VALUE)
    probes = [p for p in ("S1", "S2") if p in set(bands[PROFILE_PROBE])]
    fig = figure(figsize=(11, 4.2))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(probes)), sharey=True))
    colours = {f"L5 > {L5_THRESHOLD_HU:.0f} HU": "tab:red", f"L5 ≤ {L5_THRESHOLD_HU:.0f} HU": "tab:blue"}
    for ax, probe in zip(axes, probes):
        for group, colour in colours.items():
            b = bands[(bands[PROFILE_PROBE] == probe) & (bands["group"] == group)].sort_values("percent")
            if b.empty:
                continue
            n = int(b["n"].max())
            ax.plot(b["percent"], b["mean"], color=colour, label=f"{group} (n={n})")
            sd = b["sd"].fillna(0)
            ax.fill_between(b["percent"], b["mean"] - sd, b["mean"] + sd, color=colour, alpha=0.2)
        for lo, hi in ((20, 40), (60, 80)):
            ax.axvspan(lo, hi, color="0.9", zorder=0)
        ax.axvspan(40, 60, color="0.8", zorder=0)
        ax.set_title(f"{probe} probe")
        ax.set_xlabel("% of probe length (patient left entry → right entry)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("density (HU), mean ± SD")
    img = _save(fig, folder, "fig6_profiles.png")
    summary = (
        bands.groupby([PROFILE_PROBE, "group"])
        .agg(cases=("n", "max"), mean_hu=("mean", "mean"))
        .reset_index()
        .round({"mean_hu": 1})
    )
    text = (
        "Mean density along the probes in 1 % bins with ±1 SD bands, per L5 group (seed 000 Figure 6: "
        "red L5 > 100 HU, blue L5 ≤ 100 HU). Shaded: alae (20-40 %, 60-80 %) and body (40-60 %)."
    )
    return [DemoSection(title, text, summary, (img,))]


def _focal(df: pd.DataFrame, folder: Path) -> list[DemoSection]:
    title = "Seed 004 Tables 3-4: focal BMC loss by fracture status"
    cols = {k: v for k, v in COLUMNS["focal"].items() if _has(df, v)}
    if not cols:
        return [DemoSection(title, "Skipped: no focal-defect results in this cohort.")]
    if "fracture" not in df:
        return [DemoSection(title, "Skipped: the manifest has no 'fracture' column (1/0, yes/no).")]
    d = df.copy()
    d["_fracture"] = _flag(d["fracture"])
    d = d[d["_fracture"].notna() & _numeric(d, next(iter(cols.values()))).notna()]
    if d["_fracture"].nunique() < 2:
        return [DemoSection(title, "Skipped: the focal-defect cases are all of one fracture status.")]
    groups = {"fracture": d["_fracture"] == 1, "control": d["_fracture"] == 0}
    table, _ = group_table(d, cols, [("fracture", groups)])
    covariates = []
    if "age" in d and _numeric(d, "age").notna().all():
        d["age"] = _numeric(d, "age")
        covariates.append("age")
    if "sex" in d:
        d["female"] = d["sex"].astype(str).str.strip().str.lower().isin(_FEMALE).astype(float)
        if d["female"].nunique() > 1:
            covariates.append("female")
    bmd = COLUMNS["focal"]["BMD"]
    if bmd in cols.values():
        covariates.append(bmd)
    predictors = {k: v for k, v in cols.items() if k != "Focal BMD loss"}
    ors = odds_ratios(d, "_fracture", predictors, covariates=covariates)
    fig = figure(figsize=(4 * len(cols), 4))
    axes = np.atleast_1d(fig.subplots(1, len(cols)))
    rng = np.random.default_rng(0)
    for ax, (heading, col) in zip(axes, cols.items()):
        data = [_numeric(d, col)[groups[g]].dropna().to_numpy() for g in ("control", "fracture")]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks([1, 2], ["control", "fracture"])
        for i, v in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, v.size), v, s=12, alpha=0.7, color="tab:red")
        ax.set_title(heading)
        ax.grid(alpha=0.3)
    img = _save(fig, folder, "focal_by_fracture.png")
    text = (
        "Mean ± SD (range) by fracture status with Mann-Whitney p-values (seed 004 Table 3), and odds "
        "ratios per 1 SD from logistic regression (statsmodels; base model alone, full model adjusted for "
        f"{', '.join(covariates) or 'nothing'}; seed 004 Table 4). Seed 004: focal BMC loss 1.03 ± 0.13 mm "
        "in fractures vs 0.93 ± 0.11 mm in controls, OR 2.07 (1.55-2.75) per SD. Focal BMD loss is left "
        "out of the regression, as in the seed, because it is collinear with BMD."
    )
    return [
        DemoSection(title, text, table, (img,)),
        DemoSection("Seed 004 Table 4: odds ratios for prevalent fracture", "", ors),
    ]


def _cement(df: pd.DataFrame, folder: Path) -> list[DemoSection]:
    title = "Seed 003 Figure 4 and Table 4: VF % and cement distribution"
    vf, score = COLUMNS["vf"], COLUMNS["cement_score"]
    if not _has(df, vf, score):
        return [DemoSection(title, "Skipped: no cement results (VF % and distribution score).")]
    d = df[_numeric(df, vf).notna() & _numeric(df, score).notna()].copy()
    d["_extensive"] = _numeric(d, score) >= EXTENSIVE_SCORE
    groups = {"group A (limited, 0-7)": ~d["_extensive"], "group B (extensive, 8-10)": d["_extensive"]}
    cols = {"VF (%)": vf, **{k: v for k, v in COLUMNS["cement_other"].items() if v in d}}
    table, _ = group_table(d, cols, [("distribution", groups)])
    if d["_extensive"].nunique() < 2:
        return [
            DemoSection(
                title,
                "All cemented cases fall in one distribution group, so no ROC curve can be drawn.",
                table,
            )
        ]
    r = roc(_numeric(d, vf), d["_extensive"])
    fig = figure(figsize=(10, 4.3))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(r.fpr, r.tpr, color="tab:red", drawstyle="default", label=f"VF % (AUC {r.auc:.3f})")
    ax1.plot([0, 1], [0, 1], ls="--", color="0.6")
    ax1.scatter([1 - r.specificity], [r.sensitivity], color="k", zorder=3, label=f"cut-off {r.cutoff:.2f} %")
    ax1.set_xlabel("1 - specificity")
    ax1.set_ylabel("sensitivity")
    ax1.set_title("ROC of VF % for extensive distribution")
    ax1.legend(loc="lower right", fontsize=8)
    ax1.set_aspect("equal")
    ax1.grid(alpha=0.3)
    rng = np.random.default_rng(0)
    for i, mask in enumerate(groups.values()):
        v = _numeric(d, vf)[mask].to_numpy()
        ax2.scatter(i + rng.uniform(-0.12, 0.12, v.size), v, s=14, alpha=0.8)
    ax2.axhline(r.cutoff, color="k", ls="--", lw=1, label=f"cut-off {r.cutoff:.2f} %")
    ax2.axhline(28.58, color="tab:red", ls=":", lw=1, label="seed 003: 28.58 %")
    ax2.set_xticks([0, 1], ["A (limited)", "B (extensive)"])
    ax2.set_ylabel("VF % = CDV / VBV × 100")
    ax2.set_title("VF % by distribution group")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    img = _save(fig, folder, "cement_roc.png")
    cut = pd.DataFrame(
        [
            {
                "factor": "VF %",
                "AUC": round(r.auc, 3),
                "95% CI": f"{r.auc_ci[0]:.3f}-{r.auc_ci[1]:.3f}",
                "p": format_p(r.p),
                "cut-off (%)": round(r.cutoff, 2),
                "sensitivity": round(r.sensitivity, 3),
                "specificity": round(r.specificity, 3),
                "n (A/B)": f"{r.n_neg}/{r.n_pos}",
            }
        ]
    )
    text = (
        "VF % by cement distribution group (score 0-7 limited = A, 8-10 extensive = B), Mann-Whitney "
        "p-values; ROC curve of VF % for group B with the Youden cut-off (a case is called extensive when "
        "VF % ≥ cut-off). AUC p-value from the Mann-Whitney test, 95 % CI by Hanley & McNeil. Seed 003: "
        "AUC 0.847, cut-off 28.58 % (sensitivity 72.2 %, specificity 91.7 %)."
    )
    return [
        DemoSection(title, text, table, (img,)),
        DemoSection("Seed 003 Table 4: best cut-off of VF %", "", cut),
    ]


def cohort_sections(
    cohort: pd.DataFrame, profiles: pd.DataFrame | None, folder: str | os.PathLike
) -> list[DemoSection]:
    """The report sections for ``cohort`` (cohort.csv as a DataFrame); PNGs go to ``folder``.

    Image paths in the sections are ``report/<name>.png`` (relative to the report's folder).
    """
    folder = Path(folder)
    done = cohort[cohort["status"].isin(("done", "partial"))].reset_index(drop=True)
    sections = [_overview(cohort)]
    for make in (_table1, lambda d: _figure5(d, folder), lambda d: _figure6(d, profiles, folder)):
        sections += make(done)
    sections += _focal(done, folder)
    sections += _cement(done, folder)
    return sections


def write_cohort_report(out: str | os.PathLike, *, manifest=None) -> Path:
    """Write ``DIR/report.html`` and ``DIR/report/*.png`` from ``DIR/cohort.csv`` (atomically)."""
    out = Path(out)
    cohort = pd.read_csv(out / "cohort.csv", dtype={"case_id": str}, keep_default_na=True)
    profiles_path = out / "profiles.csv"
    profiles = pd.read_csv(profiles_path) if profiles_path.is_file() else None
    with atomic_replace_dir(out / "report") as stage:
        sections = cohort_sections(cohort, profiles, stage)
    title = f"Cohort report: {manifest.path.name}" if manifest is not None else "Cohort report"
    with atomic_file(out / "report.html") as tmp:
        write_html_report(
            tmp,
            title,
            sections,
            intro="Written by `bonequality batch` from cohort.csv (one row per case) and profiles.csv.",
        )
    return out / "report.html"
