"""The cohort-wide tables: ``cohort.csv``, ``failures.csv`` and the concatenated per-case tables.

* ``cohort.csv``: one row per manifest case, in manifest order: ``case_id``, ``status``
  (``done``, ``partial``, ``failed`` or ``pending``), the metadata columns, every
  analysis's figures (``<prefix>_<figure>``) and ``error`` (the failed analyses' messages).
* ``failures.csv``: one row per failed analysis of a case: ``case_id``, ``row``,
  ``analysis``, ``error_type``, ``error``.
* ``DIR/<table>``: an analysis's per-case table (e.g. ``profiles.csv``) of every case,
  as the analysis wrote it, with a ``case_id`` column in front.

Each is written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..outputs import atomic_file
from .analysis import Analysis
from .case import case_dir
from .manifest import Manifest

__all__ = [
    "FAILURE_COLUMNS",
    "build_cohort",
    "collect_tables",
    "failures_frame",
    "read_failures",
    "write_csv",
]

FAILURE_COLUMNS = ("case_id", "row", "analysis", "error_type", "error")


def _rows(failure) -> tuple[dict, ...]:
    """The failure records of a case: from a CaseOutcome or a sequence of dicts."""
    if failure is None:
        return ()
    return tuple(getattr(failure, "failures", failure))


def build_cohort(
    manifest: Manifest,
    summaries: Mapping[str, dict],
    failures: Mapping[str, Sequence[dict]],
    analyses: tuple[Analysis, ...] = (),
) -> pd.DataFrame:
    """One row per manifest case, in manifest order: status, metadata, figures, error.

    ``summaries`` holds the published cases (``summary.json``: status ``done`` or
    ``partial``), ``failures`` the failure records per case (a sequence of dicts with
    ``error``, or a :class:`~bonequality.batch.case.CaseOutcome`). A case in neither is
    ``pending``.
    """
    rows = []
    figure_cols: list[str] = []
    for case in manifest.cases:
        s = summaries.get(case.case_id)
        failed = _rows(failures.get(case.case_id)) or (_rows(s.get("failures")) if s else ())
        status = s.get("status", "done") if s else ("failed" if failed else "pending")
        row = {"case_id": case.case_id, "status": status}
        row.update(case.metadata)
        if s:
            for k, v in s["figures"].items():
                if k not in figure_cols:
                    figure_cols.append(k)
                row[k] = v
        row["error"] = "" if status == "done" else "; ".join(f["error"] for f in failed)
        rows.append(row)
    prefixes = [a.column("") for a in analyses]

    def order(col: str) -> int:
        return next((i for i, p in enumerate(prefixes) if col.startswith(p)), len(prefixes))

    figure_cols.sort(key=order)  # stable: keeps each analysis's own order
    cols = ["case_id", "status", *manifest.metadata_columns, *figure_cols, "error"]
    df = pd.DataFrame(rows, columns=cols)
    for col in figure_cols:  # whole numbers stay whole where other rows are empty
        values = [r[col] for r in rows if r.get(col) is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            df[col] = df[col].astype("Int64")
    return df


def failures_frame(manifest: Manifest, failures: Mapping[str, Sequence[dict]]) -> pd.DataFrame:
    """One row per failed analysis, in manifest order."""
    rows = [
        {"case_id": c.case_id, "row": c.row, **{k: f.get(k, "") for k in FAILURE_COLUMNS[2:]}}
        for c in manifest.cases
        for f in _rows(failures.get(c.case_id))
    ]
    return pd.DataFrame(rows, columns=list(FAILURE_COLUMNS))


def read_failures(path: Path) -> dict[str, tuple[dict, ...]]:
    """``failures.csv`` of an earlier run: case_id -> its failure records (empty if unreadable)."""
    if not path.is_file():
        return {}
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return {}
    out: dict[str, list[dict]] = {}
    for r in df.to_dict("records"):
        if r.get("case_id"):
            out.setdefault(r["case_id"], []).append({k: r.get(k, "") for k in FAILURE_COLUMNS[2:]})
    return {k: tuple(v) for k, v in out.items()}


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_file(path) as tmp:
        df.to_csv(tmp, index=False)


def collect_tables(
    out: Path, manifest: Manifest, analyses: tuple[Analysis, ...], summaries: Mapping[str, dict]
) -> list[Path]:
    """Concatenate every published case's per-analysis tables into ``DIR/<table>``.

    Each case's table is read as the analysis wrote it; a ``case_id`` column goes in front.
    """
    written = []
    for a in analyses:
        for table in a.tables:
            frames = []
            for case in manifest.cases:
                p = case_dir(out, case.case_id) / a.name / table
                if case.case_id in summaries and p.is_file():
                    df = pd.read_csv(p)
                    df.insert(0, "case_id", case.case_id)
                    frames.append(df)
            if frames:
                write_csv(pd.concat(frames, ignore_index=True), out / table)
                written.append(out / table)
    return written
