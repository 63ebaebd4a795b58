"""Cohort statistics in the form of the seed papers' tables and figures.

* :func:`group_table`: mean ± SD (range) per group with Mann-Whitney p-values, the
  form of seed 000 Table 1 (groups L5 <= 100 vs > 100 HU, age < 60 vs >= 60) and of
  seed 004 Table 3 (fracture cases vs controls).
* :func:`correlations`: Spearman correlation and least-squares regression of one figure
  against others (seed 000 Figure 5: L5 HU against the S1 and S2 corridor figures).
* :func:`profile_bands`: mean and SD of the 1 % corridor profiles per group (seed 000
  Figure 6).
* :func:`odds_ratios`: logistic regression odds ratios per 1 SD (seed 004 Table 4).
* :func:`roc`: ROC curve, AUC and the best (Youden) cut-off (seed 003 Figure 4, Tables 3-4).

The tests come from scipy.stats (Mann-Whitney U, Spearman, linear regression, Fisher)
and statsmodels (logistic regression). The ROC curve itself is counted with numpy (it
is a cumulative count over sorted scores); its AUC equals the Mann-Whitney U statistic
divided by ``n_pos * n_neg``, whose p-value scipy gives.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "Roc",
    "Summary",
    "correlations",
    "format_p",
    "group_table",
    "mann_whitney_p",
    "odds_ratios",
    "profile_bands",
    "roc",
    "summarize",
]


@dataclass(frozen=True)
class Summary:
    """n, mean, sample SD (ddof=1) and range of the finite values."""

    n: int
    mean: float
    sd: float
    min: float
    max: float

    def __str__(self) -> str:
        if self.n == 0:
            return "–"
        sd = "–" if math.isnan(self.sd) else _num(self.sd)
        return f"{_num(self.mean)} ± {sd} ({_num(self.min)} to {_num(self.max)})"

    def to_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "sd": self.sd, "min": self.min, "max": self.max}


def _num(v: float) -> str:
    """Three significant figures, no exponent for the usual clinical magnitudes."""
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _finite(values) -> np.ndarray:
    a = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    return a[np.isfinite(a)]


def summarize(values) -> Summary:
    """:class:`Summary` of the finite numeric entries of ``values``."""
    a = _finite(values)
    if a.size == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    sd = float(np.std(a, ddof=1)) if a.size > 1 else math.nan
    return Summary(int(a.size), float(a.mean()), sd, float(a.min()), float(a.max()))


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value (scipy); NaN when a group has no values."""
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return math.nan
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def format_p(p: float) -> str:
    """``<0.001``, ``0.03``, ``0.33`` as in the seed tables; ``–`` when not computable."""
    if p is None or not math.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def group_table(
    df: pd.DataFrame,
    columns: Mapping[str, str],
    groupings: Sequence[tuple[str, Mapping[str, pd.Series]]],
    *,
    count_column: tuple[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean ± SD (range) per group with Mann-Whitney p-values (seed 000 Table 1 form).

    Parameters
    ----------
    df : DataFrame
        One row per case.
    columns : mapping heading -> column of ``df``
        The figures to describe, in table order.
    groupings : sequence of (title, {group label: bool Series over df})
        Each grouping with two groups gets a p-value row comparing them; the first
        grouping may hold a single group (e.g. ``{"all": everyone}``).
    count_column : (heading, column), optional
        A categorical column reported as ``count (%)`` of its truthy/"f" entries, e.g.
        ``("female n (%)", "female")``; compared with Fisher's exact test.

    Returns
    -------
    table : DataFrame
        Display strings, one row per group and per p-value.
    numbers : DataFrame
        The same as numbers: group, column, n, mean, sd, min, max, p.
    """
    rows, numbers = [], []
    for title, groups in groupings:
        for label, mask in groups.items():
            sub = df[mask.reindex(df.index, fill_value=False).astype(bool)]
            row = {"group": label, "n": len(sub)}
            if count_column is not None:
                heading, col = count_column
                k = int(sub[col].sum())
                row[heading] = f"{k} ({100 * k / len(sub):.0f})" if len(sub) else "–"
            for heading, col in columns.items():
                s = summarize(sub[col]) if col in sub else summarize([])
                row[heading] = str(s)
                numbers.append(
                    {"grouping": title, "group": label, "column": heading, **s.to_dict(), "p": np.nan}
                )
            rows.append(row)
        if len(groups) == 2:
            (la, ma), (lb, mb) = groups.items()
            a = df[ma.reindex(df.index, fill_value=False).astype(bool)]
            b = df[mb.reindex(df.index, fill_value=False).astype(bool)]
            prow = {"group": f"p ({la} vs {lb})", "n": ""}
            if count_column is not None:
                heading, col = count_column
                ka, kb = int(a[col].sum()), int(b[col].sum())
                table = [[ka, len(a) - ka], [kb, len(b) - kb]]
                p = float(stats.fisher_exact(table).pvalue) if len(a) and len(b) else math.nan
                prow[heading] = format_p(p)
            for heading, col in columns.items():
                p = mann_whitney_p(a[col], b[col]) if col in df else math.nan
                prow[heading] = format_p(p)
                numbers.append({"grouping": title, "group": prow["group"], "column": heading, "p": p})
            rows.append(prow)
    return pd.DataFrame(rows), pd.DataFrame(numbers)


def correlations(df: pd.DataFrame, x: str, ys: Mapping[str, str]) -> pd.DataFrame:
    """Spearman correlation and linear regression of each ``ys`` column on ``x``.

    Returns one row per y: n, Spearman rho and p, regression slope, intercept, r²,
    adjusted r² (``1 - (1 - r²)(n - 1)/(n - 2)``) and the slope's p-value
    (scipy.stats.spearmanr, scipy.stats.linregress). Rows need both values finite.
    """
    rows = []
    for heading, col in ys.items():
        if col not in df or x not in df:
            continue
        pair = pd.DataFrame(
            {"x": pd.to_numeric(df[x], errors="coerce"), "y": pd.to_numeric(df[col], errors="coerce")}
        ).dropna()
        n = len(pair)
        row = {"figure": heading, "n": n}
        if n >= 3 and pair["x"].nunique() > 1 and pair["y"].nunique() > 1:
            rho = stats.spearmanr(pair["x"], pair["y"])
            lr = stats.linregress(pair["x"], pair["y"])
            r2 = lr.rvalue**2
            row.update(
                spearman_rho=float(rho.statistic),
                spearman_p=float(rho.pvalue),
                slope=float(lr.slope),
                intercept=float(lr.intercept),
                r2=float(r2),
                adj_r2=float(1 - (1 - r2) * (n - 1) / (n - 2)) if n > 2 else math.nan,
                p=float(lr.pvalue),
            )
        rows.append(row)
    cols = ["figure", "n", "spearman_rho", "spearman_p", "slope", "intercept", "r2", "adj_r2", "p"]
    return pd.DataFrame(rows, columns=cols)


def profile_bands(
    profiles: pd.DataFrame, groups: pd.Series, *, probe: str = "corridor", value: str = "mean_hu"
) -> pd.DataFrame:
    """Mean and SD (ddof=1) of per-case profiles per probe, group and percent bin.

    Parameters
    ----------
    profiles : DataFrame
        Columns ``case_id``, ``probe``, ``percent`` and ``value`` (one row per bin): by
        default ``DIR/profiles.csv``, the corridors' ``profiles.csv`` of every case
        (``corridor``, ``percent``, ``mean_hu``) with ``case_id``.
    groups : Series
        case_id -> group label; cases without a label are left out.

    Returns
    -------
    DataFrame with columns ``probe`` (named as in ``profiles``), group, percent, mean, sd, n.
    """
    p = profiles.merge(groups.rename("group"), left_on="case_id", right_index=True)
    agg = p.groupby([probe, "group", "percent"])[value].agg(["mean", "std", "count"]).reset_index()
    return agg.rename(columns={"std": "sd", "count": "n"})


def odds_ratios(
    df: pd.DataFrame,
    outcome: str,
    predictors: Mapping[str, str],
    *,
    covariates: Sequence[str] = (),
) -> pd.DataFrame:
    """Odds ratio per 1 SD of each predictor from a logistic regression (statsmodels).

    As in seed 004 Table 4: each predictor is standardised (z-score) and entered alone
    ("base model") and, when ``covariates`` are given, with them ("full model";
    covariates are z-scored too, a covariate equal to the predictor is skipped).

    Returns one row per predictor and model: OR, 95 % CI, p, n, and a note when the
    model cannot be estimated (e.g. perfect separation, too few cases).
    """
    import statsmodels.api as sm

    y_all = pd.to_numeric(df[outcome], errors="coerce")
    rows = []
    models = [("base", ())]
    if covariates:
        models.append(("full", tuple(covariates)))
    for heading, col in predictors.items():
        for model, covs in models:
            covs = tuple(c for c in covs if c != col and c in df)
            if model == "full" and not covs:
                continue
            data = pd.DataFrame({"y": y_all, "x": pd.to_numeric(df[col], errors="coerce")})
            for c in covs:
                data[c] = pd.to_numeric(df[c], errors="coerce")
            data = data.dropna()
            row = {"predictor": heading, "model": model, "adjusted_for": ", ".join(covs), "n": len(data)}
            note = _logit_problem(data)
            if note is None:
                z = (data - data.mean()) / data.std(ddof=1)
                z["y"] = data["y"]
                exog = sm.add_constant(z[["x", *covs]])
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    try:
                        fit = sm.Logit(z["y"], exog).fit(disp=0)
                        ci = fit.conf_int().loc["x"]
                        row.update(
                            odds_ratio=float(np.exp(fit.params["x"])),
                            ci_low=float(np.exp(ci.iloc[0])),
                            ci_high=float(np.exp(ci.iloc[1])),
                            p=float(fit.pvalues["x"]),
                        )
                    except Exception as exc:  # separation, singular matrix, no convergence
                        note = f"not estimable ({type(exc).__name__}: {str(exc)[:80]})"
            row["note"] = note or ""
            rows.append(row)
    cols = ["predictor", "model", "adjusted_for", "n", "odds_ratio", "ci_low", "ci_high", "p", "note"]
    return pd.DataFrame(rows, columns=cols)


def _logit_problem(data: pd.DataFrame) -> str | None:
    y = data["y"]
    if not set(y.unique()) <= {0, 1}:
        return "outcome is not 0/1"
    n1 = int(y.sum())
    if n1 < 2 or len(y) - n1 < 2:
        return "fewer than 2 cases in a group"
    if (data.drop(columns="y").std(ddof=1) == 0).any():
        return "a variable is constant"
    return None


@dataclass(frozen=True)
class Roc:
    """An ROC curve (positives: higher scores) with its AUC and best cut-off.

    Attributes
    ----------
    fpr, tpr, thresholds : ndarray
        Points of the curve, from (0, 0) (threshold +inf) to (1, 1); a case is called
        positive when ``score >= threshold``.
    auc : float
        Area under the curve (trapezoids), equal to U / (n_pos n_neg).
    auc_ci : (float, float)
        95 % CI of the AUC (Hanley & McNeil 1982 standard error, clipped to [0, 1]).
    p : float
        Two-sided Mann-Whitney p-value of AUC != 0.5 (scipy).
    cutoff, sensitivity, specificity : float
        Youden's best threshold (maximum ``tpr - fpr``; the lowest such threshold on ties).
    n_pos, n_neg : int
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    auc_ci: tuple[float, float]
    p: float
    cutoff: float
    sensitivity: float
    specificity: float
    n_pos: int
    n_neg: int

    def to_dict(self) -> dict:
        return {
            "auc": self.auc,
            "auc_ci_low": self.auc_ci[0],
            "auc_ci_high": self.auc_ci[1],
            "p": self.p,
            "cutoff": self.cutoff,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
        }


def roc(scores, positive) -> Roc:
    """ROC analysis of ``scores`` for the boolean outcome ``positive`` (seed 003 Figure 4).

    Raises
    ------
    ValueError
        When either class is empty.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positive, dtype=bool)
    ok = np.isfinite(s)
    s, y = s[ok], y[ok]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC needs cases in both classes")
    thresholds = np.unique(s)[::-1]
    # counts of positives / negatives with score >= each threshold
    tp = np.array([(s[y] >= t).sum() for t in thresholds], dtype=float)
    fp = np.array([(s[~y] >= t).sum() for t in thresholds], dtype=float)
    tpr = np.concatenate([[0.0], tp / n_pos])
    fpr = np.concatenate([[0.0], fp / n_neg])
    thr = np.concatenate([[np.inf], thresholds])
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    p = float(stats.mannwhitneyu(s[y], s[~y], alternative="two-sided").pvalue)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    se = math.sqrt(max(var, 0.0))
    j = tpr - fpr
    best = int(np.flatnonzero(j == j.max())[-1])
    return Roc(
        fpr=fpr,
        tpr=tpr,
        thresholds=thr,
        auc=auc,
        auc_ci=(max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)),
        p=p,
        cutoff=float(thr[best]),
        sensitivity=float(tpr[best]),
        specificity=float(1 - fpr[best]),
        n_pos=n_pos,
        n_neg=n_neg,
    )
