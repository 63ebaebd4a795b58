"""One case on a worker: run its analyses, each on its own, and publish the case atomically.

:func:`run_case` runs every analysis of the case in its own ``try``: one failing analysis
costs only its own results. The case runs in a hidden staging folder
``DIR/cases/.stage-*``; each analysis writes into ``<stage>/<analysis>/`` (the folder of
a failed analysis is removed). When at least one analysis succeeded, ``summary.json``
is written last and the folder is renamed to ``DIR/cases/<case_id>``, so a killed run
never leaves a half-written case. The case's status is

* ``done``: every analysis succeeded;
* ``partial``: some failed; the folder holds the successful ones, ``summary.json`` lists
  the failed ones with their errors;
* ``failed``: none succeeded; nothing is published.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import BoneQualityError
from ..outputs import write_json
from .analysis import Analysis, case_analyses
from .inputs import CaseInputs
from .manifest import Case

__all__ = ["SUMMARY", "CaseOutcome", "case_dir", "failure_row", "run_case"]

log = logging.getLogger(__name__)

#: The case's own summary, written last: its presence means "published".
SUMMARY = "summary.json"
STAGE_PREFIX = ".stage-"
OLD_PREFIX = ".old-"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one case.

    Attributes
    ----------
    case_id : str
    row : int
        Manifest line.
    status : {"done", "partial", "failed"}
    figures : dict
        ``<prefix>_<figure>`` -> value of every successful analysis.
    failures : tuple of dict
        One per failed analysis: ``analysis``, ``error_type`` (exception class) and
        ``error`` (the message, naming the row, column and file where it can).
    seconds : float
        Wall time in the worker.
    summary : dict or None
        The published ``summary.json`` (None when nothing was published).
    """

    case_id: str
    row: int
    status: str
    figures: dict = field(default_factory=dict)
    failures: tuple[dict, ...] = ()
    seconds: float = 0.0
    summary: dict | None = field(default=None, repr=False)

    @property
    def analysis(self) -> str:
        """The first failed analysis ("" when none failed)."""
        return self.failures[0]["analysis"] if self.failures else ""

    @property
    def error_type(self) -> str:
        return self.failures[0]["error_type"] if self.failures else ""

    @property
    def error(self) -> str:
        """The failed analyses' messages, separated by ``; ``."""
        return "; ".join(f["error"] for f in self.failures)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("summary")
        d["failures"] = [dict(f) for f in self.failures]
        return d


def case_dir(out: str | os.PathLike, case_id: str) -> Path:
    """``DIR/cases/<case_id>``."""
    return Path(out) / "cases" / case_id


def failure_row(case: Case, analysis: str, exc: BaseException, *, prefix: str = "") -> dict:
    """The failures.csv record of ``analysis`` of ``case`` failing with ``exc``."""
    where = f"{case.where()}: " if case.where() not in str(exc) else ""
    head = f"{analysis}: " if analysis else ""
    return {
        "analysis": analysis,
        "error_type": type(exc).__name__,
        "error": f"{head}{where}{prefix}{exc}",
    }


def _scalar(v, *, where: str):
    """A JSON/CSV-able scalar from a numpy scalar, bool, number or string."""
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"{where} is a {type(v).__name__}; batch summaries hold numbers or short text")


def _run_analysis(a: Analysis, inputs: CaseInputs, folder: Path) -> dict:
    """``a`` on the case into ``folder``: its figures as cohort.csv columns (raises on failure)."""
    folder.mkdir()
    try:
        a.check_row(inputs)
        result = a.func(inputs, folder)
        return {
            a.column(k): _scalar(v, where=f"analysis '{a.name}' figure '{k}'")
            for k, v in dict(result).items()
        }
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def run_case(case: Case, analyses: tuple[Analysis, ...], out: str | os.PathLike) -> CaseOutcome:
    """Run ``analyses`` on one case, each on its own, and publish ``DIR/cases/<case_id>/``.

    Runs in a Dask worker (or directly). Never raises for a bad case or a failing
    analysis: the errors are returned in the :class:`CaseOutcome`; the case is published
    when at least one analysis succeeded (status ``done`` or ``partial``).
    """
    t0 = time.perf_counter()
    fingerprint = case.fingerprint  # of the input files as they are before the analyses read them
    cases = Path(out) / "cases"
    cases.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{case.case_id}-", dir=cases))
    chosen = case_analyses(case, analyses)
    inputs = CaseInputs(case)
    figures: dict[str, object] = {}
    failures: list[dict] = []
    timings: dict[str, float] = {}
    for a in chosen:
        ta = time.perf_counter()
        try:
            figures.update(_run_analysis(a, inputs, stage / a.name))
        except Exception as exc:  # one analysis must not cost the others
            if not isinstance(exc, BoneQualityError):
                log.error("case %s, %s: internal error\n%s", case.case_id, a.name, traceback.format_exc())
            failures.append(failure_row(case, a.name, exc))
        timings[a.name] = time.perf_counter() - ta
    status = "failed" if chosen and len(failures) == len(chosen) else "partial" if failures else "done"
    if status == "failed":
        shutil.rmtree(stage, ignore_errors=True)
        return CaseOutcome(case.case_id, case.row, status, failures=tuple(failures), seconds=_since(t0))
    summary = {
        "case_id": case.case_id,
        "row": case.row,
        "status": status,
        "analyses": [a.name for a in chosen],
        "failures": failures,
        "fingerprint": fingerprint,
        "figures": figures,
        "analysis_seconds": timings,
        "seconds": _since(t0),
    }
    try:
        write_json(stage / SUMMARY, summary)
        _publish(stage, case_dir(out, case.case_id))
    except Exception as exc:  # e.g. a full disk: the case is not published
        shutil.rmtree(stage, ignore_errors=True)
        log.error("case %s: cannot publish\n%s", case.case_id, traceback.format_exc())
        names = [a.name for a in chosen] or [""]
        rows = tuple(failure_row(case, n, exc, prefix="cannot write the case: ") for n in names)
        return CaseOutcome(case.case_id, case.row, "failed", failures=rows, seconds=_since(t0))
    return CaseOutcome(
        case.case_id, case.row, status, figures, tuple(failures), summary["seconds"], summary=summary
    )


def _since(t0: float) -> float:
    return time.perf_counter() - t0


def _publish(stage: Path, final: Path) -> None:
    """Rename ``stage`` to ``final``; an older ``final`` is moved aside first, then deleted.

    ``stage`` comes from mkdtemp (mode 0700); the published folder gets the mode a plain
    mkdir would give it.
    """
    os.chmod(stage, 0o777 & ~_UMASK)
    old = None
    if final.exists():
        old = final.with_name(f"{OLD_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
