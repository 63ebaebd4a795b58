"""Run analyses over a manifest on Dask: resumable, one atomic folder per case.

Layout of the output folder ``DIR``::

    DIR/cases/<case_id>/summary.json     written last; its presence means "finished"
    DIR/cases/<case_id>/<analysis>/...   each analysis's own files (profiles, tables)
    DIR/cohort.csv                       one row per manifest case: status, metadata, figures
    DIR/failures.csv                     the cases that failed, with the error message
    DIR/<table>.csv                      per-case tables concatenated (e.g. profiles.csv)
    DIR/report.html, DIR/report/*.png    the cohort report (:mod:`bonequality.batch.report`)

A case runs in a Dask worker, in a hidden staging folder ``DIR/cases/.stage-*``; the
folder is renamed to ``DIR/cases/<case_id>`` only when every analysis succeeded and
``summary.json`` is written, so a killed run leaves no half-written case. A rerun skips
the finished cases (same analyses, same input cells) and redoes failed or missing ones.
``cohort.csv`` and ``failures.csv`` are rebuilt from the per-case results and replaced
atomically, so they never hold duplicated or half-written rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import BoneQualityError, InputFileError, OperationCancelled
from ..outputs import atomic_file, write_json
from ..progress import ProgressCallback, report
from .manifest import Case, Manifest
from .registry import Analysis, CaseInputs, case_analyses

__all__ = [
    "BatchProgress",
    "BatchResult",
    "CaseOutcome",
    "SchedulerError",
    "build_cohort",
    "dask_client",
    "finished_summary",
    "run_batch",
    "run_case",
]

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
#: Environment variables that size the thread pools of numpy's BLAS, OpenMP and ITK.
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
)
_STAGE = ".stage-"
_OLD = ".old-"


class SchedulerError(BoneQualityError):
    """The Dask scheduler given with ``--scheduler`` cannot be reached."""


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one case.

    Attributes
    ----------
    case_id : str
    row : int
        Manifest line.
    status : {"done", "failed"}
    figures : dict
        ``<prefix>_<figure>`` -> value, every analysis's summary (empty when failed).
    analysis : str
        The analysis that failed ("" when done or when the inputs were wrong).
    error_type, error : str
        Exception class and message (names the row, column and file where it can).
    seconds : float
        Wall time in the worker.
    """

    case_id: str
    row: int
    status: str
    figures: dict = field(default_factory=dict)
    analysis: str = ""
    error_type: str = ""
    error: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BatchProgress:
    """Counts passed to ``on_case`` after every finished case.

    ``skipped`` cases were already finished before this run; ``rate_per_min`` counts the
    cases this run completed (done or failed) per minute of wall time.
    """

    total: int
    done: int
    failed: int
    skipped: int
    remaining: int
    rate_per_min: float

    def message(self) -> str:
        return f"{self.done} done, {self.failed} failed, {self.remaining} left, {self.rate_per_min:.1f}/min"


@dataclass(frozen=True)
class BatchResult:
    """Summary of a batch run (JSON-able through :meth:`to_dict`)."""

    out: Path
    analyses: tuple[str, ...]
    total: int
    done: int
    failed: int
    skipped: int
    ran: int
    seconds: float
    cases_per_minute: float
    cohort_csv: Path
    failures_csv: Path
    report_html: Path | None
    failures: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("out", "cohort_csv", "failures_csv", "report_html"):
            d[k] = None if d[k] is None else str(d[k])
        d["failures"] = [dict(f) for f in self.failures]
        return d


# ---------------------------------------------------------------------------- worker side


def _case_dir(out: Path, case_id: str) -> Path:
    return Path(out) / "cases" / case_id


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def run_case(case: Case, analyses: tuple[Analysis, ...], out: str | os.PathLike) -> CaseOutcome:
    """Run ``analyses`` on one case and publish ``DIR/cases/<case_id>/`` atomically.

    Runs in a Dask worker (or directly). Never raises for a bad case: the error is
    returned in the :class:`CaseOutcome` (status ``"failed"``) and nothing is published.
    """
    t0 = time.perf_counter()
    cases = Path(out) / "cases"
    cases.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{_STAGE}{case.case_id}-", dir=cases))
    current = ""
    analyses = case_analyses(case, analyses)
    try:
        inputs = CaseInputs(case)
        for a in analyses:
            a.check_row(inputs)
        figures: dict[str, object] = {}
        timings: dict[str, float] = {}
        for a in analyses:
            current = a.name
            adir = stage / a.name
            adir.mkdir()
            ta = time.perf_counter()
            result = a.func(inputs, adir)
            timings[a.name] = time.perf_counter() - ta
            for k, v in dict(result).items():
                figures[a.column(k)] = _scalar(v, where=f"analysis '{a.name}' figure '{k}'")
        current = ""
        summary = {
            "case_id": case.case_id,
            "row": case.row,
            "status": "done",
            "analyses": [a.name for a in analyses],
            "fingerprint": case.fingerprint,
            "figures": figures,
            "analysis_seconds": timings,
            "seconds": time.perf_counter() - t0,
        }
        write_json(stage / SUMMARY, summary)
        _publish(stage, _case_dir(out, case.case_id))
        return CaseOutcome(case.case_id, case.row, "done", figures, seconds=summary["seconds"])
    except Exception as exc:  # a bad case must not stop the cohort
        shutil.rmtree(stage, ignore_errors=True)
        if not isinstance(exc, BoneQualityError):
            log.error("case %s: internal error\n%s", case.case_id, traceback.format_exc())
        where = f"{case.where()}: " if case.case_id not in str(exc) else ""
        prefix = f"{current}: " if current else ""
        return CaseOutcome(
            case.case_id,
            case.row,
            "failed",
            analysis=current,
            error_type=type(exc).__name__,
            error=f"{prefix}{where}{exc}",
            seconds=time.perf_counter() - t0,
        )


def _scalar(v, *, where: str):
    """A JSON/CSV-able scalar from a numpy scalar, bool, number or string."""
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"{where} is a {type(v).__name__}; batch summaries hold numbers or short text")


def _publish(stage: Path, final: Path) -> None:
    """Rename ``stage`` to ``final``; an older ``final`` is moved aside first, then deleted.

    ``stage`` comes from mkdtemp (mode 0700); the published folder gets the mode a plain
    mkdir would give it.
    """
    os.chmod(stage, 0o777 & ~_UMASK)
    old = None
    if final.exists():
        old = final.with_name(f"{_OLD}{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------- client side


def finished_summary(out: str | os.PathLike, case: Case, analyses: tuple[Analysis, ...]) -> dict | None:
    """The case's summary if it finished with these analyses and unchanged inputs, else None."""
    p = _case_dir(Path(out), case.case_id) / SUMMARY
    try:
        summary = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if summary.get("status") != "done" or summary.get("fingerprint") != case.fingerprint:
        return None
    if not {a.name for a in case_analyses(case, analyses)} <= set(summary.get("analyses", ())):
        return None
    return summary


def _clean_stale(out: Path) -> None:
    """Remove staging leftovers of killed runs (hidden ``.stage-*``, ``.old-*``, ``.bq-tmp-*``)."""
    for folder in (out, out / "cases"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith((_STAGE, _OLD, ".bq-tmp-")) or ".bq-tmp-" in p.name:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One batch run per output folder (released automatically if the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    fh = (out / ".batch.lock").open("a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputFileError(
                f"output folder {out} is in use by another batch run; wait for it or choose another --out."
            ) from None
        yield
    finally:
        fh.close()


def worker_environment(workers: int) -> dict[str, str]:
    """Environment of each LocalCluster worker process (Dask's ``pre-spawn-environ``, adjusted).

    * Dask limits OMP/MKL/OpenBLAS to 1 thread (ITK unlimited); each worker gets its share
      of the cores instead (1 worker on 2 cores: 2 threads inside numpy/ITK; 2 workers: 1
      each, so the pools never oversubscribe the cores).
    * Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` so that workers hand freed memory back to
      the OS at once. The analyses allocate and free large arrays all the time, and with it
      every allocation is a fresh mmap: the same cases ran 46 % slower. Cases are independent
      and each fits in memory, so glibc's default is kept.
    """
    import dask
    import distributed  # noqa: F401  (loads the distributed.* defaults)

    inner = str(max(1, (os.cpu_count() or 1) // max(1, int(workers))))
    environ = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()}
    environ.update(dict.fromkeys(_THREAD_VARIABLES, inner))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


@contextlib.contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None):
    """A ``distributed.Client``: to ``scheduler`` if given, else on a new LocalCluster.

    The LocalCluster has ``workers`` worker processes (default: the number of CPUs), each
    running one task at a time, with ``cpus // workers`` threads for numpy/OpenMP inside a
    task; its HTTP endpoint listens on a free port. Both are closed on exit.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"--scheduler {scheduler}: cannot connect ({exc}).") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = int(workers or os.cpu_count() or 1)
    if n < 1:
        raise InputFileError(f"--workers {workers}: give at least 1 worker.")
    config = {
        "distributed.nanny.pre-spawn-environ": worker_environment(n),
        # send every case to a worker at once instead of one at a time after each result:
        # no scheduler round trip between two cases (cases are independent and similar).
        "distributed.scheduler.worker-saturation": float("inf"),
    }
    with _quiet_distributed(), dask.config.set(config):
        # ":0": the scheduler's HTTP endpoint on a free port, so concurrent runs never collide.
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        try:
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Keep distributed's INFO chatter (cluster start/stop) out of the user's log."""
    logger = logging.getLogger("distributed")
    level = logger.level
    if logger.getEffectiveLevel() < logging.WARNING and not log.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_cohort(
    manifest: Manifest,
    summaries: dict[str, dict],
    failures: dict[str, CaseOutcome],
    analyses: tuple[Analysis, ...] = (),
) -> pd.DataFrame:
    """One row per manifest case, in manifest order: status, metadata, figures, error.

    ``status`` is ``done`` (figures filled), ``failed`` (``error`` filled) or ``pending``.
    """
    rows = []
    figure_cols: list[str] = []
    for case in manifest.cases:
        s = summaries.get(case.case_id)
        f = failures.get(case.case_id)
        row = {"case_id": case.case_id, "status": "done" if s else ("failed" if f else "pending")}
        row.update(case.metadata)
        if s:
            for k, v in s["figures"].items():
                if k not in figure_cols:
                    figure_cols.append(k)
                row[k] = v
        row["error"] = "" if s or f is None else f.error
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


def _failures_frame(manifest: Manifest, failures: dict[str, CaseOutcome]) -> pd.DataFrame:
    rows = [
        {
            "case_id": c.case_id,
            "row": c.row,
            "analysis": failures[c.case_id].analysis,
            "error_type": failures[c.case_id].error_type,
            "error": failures[c.case_id].error,
        }
        for c in manifest.cases
        if c.case_id in failures
    ]
    return pd.DataFrame(rows, columns=["case_id", "row", "analysis", "error_type", "error"])


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_file(path) as tmp:
        df.to_csv(tmp, index=False)


def _read_failures(path: Path) -> dict[str, CaseOutcome]:
    if not path.is_file():
        return {}
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return {}
    out = {}
    for r in df.to_dict("records"):
        if r.get("case_id"):
            out[r["case_id"]] = CaseOutcome(
                r["case_id"],
                int(r.get("row") or 0),
                "failed",
                analysis=r.get("analysis", ""),
                error_type=r.get("error_type", ""),
                error=r.get("error", ""),
            )
    return out


def collect_tables(
    out: Path, manifest: Manifest, analyses: tuple[Analysis, ...], summaries: dict[str, dict]
) -> list[Path]:
    """Concatenate every finished case's per-analysis tables into ``DIR/<table>``."""
    written = []
    for a in analyses:
        for table in getattr(a, "tables", ()):
            frames = []
            for case in manifest.cases:
                p = _case_dir(out, case.case_id) / a.name / table
                if case.case_id in summaries and p.is_file():
                    df = pd.read_csv(p)
                    df.insert(0, "case_id", case.case_id)
                    frames.append(df)
            if frames:
                _write_csv(pd.concat(frames, ignore_index=True), out / table)
                written.append(out / table)
    return written


def run_batch(
    manifest: Manifest,
    analyses: tuple[Analysis, ...],
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    progress: ProgressCallback | None = None,
    on_case: Callable[[CaseOutcome, BatchProgress], None] | None = None,
    write_report: bool = True,
    flush_every_s: float = 2.0,
) -> BatchResult:
    """Run ``analyses`` on every unfinished case of ``manifest`` on Dask.

    Parameters
    ----------
    manifest : Manifest
    analyses : tuple of Analysis
        From :func:`~bonequality.batch.registry.get_analyses`.
    out : path
        Output folder ``DIR`` (created; reused by reruns, which skip finished cases).
    workers : int, optional
        Worker processes of the LocalCluster (one thread each); default: CPU count.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler to use instead.
    client : distributed.Client, optional
        An existing client (neither ``workers`` nor ``scheduler`` is used then).
    progress : callable, optional
        ``progress(fraction, message)``; the message holds done/failed/remaining and
        the rate. It may raise OperationCancelled: running cases are cancelled and
        every finished one is kept.
    on_case : callable, optional
        ``on_case(outcome, counts)`` after every case of this run.
    write_report : bool
        Write ``report.html`` at the end.
    flush_every_s : float
        ``cohort.csv`` and ``failures.csv`` are rewritten at most this often (and at the end).

    Returns
    -------
    BatchResult
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cohort_csv, failures_csv = out / "cohort.csv", out / "failures.csv"
    with _lock(out):
        _clean_stale(out)
        summaries: dict[str, dict] = {}
        todo: list[Case] = []
        for case in manifest.cases:
            s = finished_summary(out, case, analyses)
            if s is None:
                todo.append(case)
            else:
                summaries[case.case_id] = s
        skipped = len(summaries)
        todo_ids = {c.case_id for c in todo}
        failures = {k: v for k, v in _read_failures(failures_csv).items() if k in todo_ids}
        done = failed = 0
        last_flush = 0.0

        def flush() -> None:
            _write_csv(build_cohort(manifest, summaries, failures, analyses), cohort_csv)
            _write_csv(_failures_frame(manifest, failures), failures_csv)

        def counts() -> BatchProgress:
            minutes = max(time.perf_counter() - t0, 1e-9) / 60
            remaining = len(todo) - done - failed
            return BatchProgress(
                len(manifest), done + skipped, failed, skipped, remaining, (done + failed) / minutes
            )

        flush()
        report(progress, skipped / len(manifest), counts().message())
        if todo:
            with contextlib.ExitStack() as stack:
                if client is None:
                    client = stack.enter_context(dask_client(workers=workers, scheduler=scheduler))
                from distributed import as_completed

                token = uuid.uuid4().hex[:8]
                futures = [
                    client.submit(run_case, c, analyses, str(out), key=f"bq-{c.case_id}-{token}", pure=False)
                    for c in todo
                ]
                by_key = {f.key: c for f, c in zip(futures, todo)}
                try:
                    for fut in as_completed(futures):
                        case = by_key[fut.key]
                        try:
                            outcome = fut.result()
                        except Exception as exc:  # the worker died (KilledWorker) or similar
                            outcome = CaseOutcome(
                                case.case_id,
                                case.row,
                                "failed",
                                error_type=type(exc).__name__,
                                error=f"{case.where()}: the worker running it failed: {exc}",
                            )
                        if outcome.status == "done":
                            done += 1
                            failures.pop(case.case_id, None)
                            summaries[case.case_id] = finished_summary(out, case, analyses) or {
                                "figures": outcome.figures
                            }
                        else:
                            failed += 1
                            failures[case.case_id] = outcome
                            log.warning("case %s failed: %s", case.case_id, outcome.error)
                        c = counts()
                        if on_case is not None:
                            on_case(outcome, c)
                        now = time.perf_counter()
                        if outcome.status == "failed" or now - last_flush >= flush_every_s:
                            flush()
                            last_flush = now
                        report(progress, (c.done + c.failed) / c.total, c.message())
                except (OperationCancelled, KeyboardInterrupt):
                    client.cancel(futures)
                    flush()
                    raise
        flush()
        collect_tables(out, manifest, analyses, summaries)
        report_html = None
        if write_report:
            from .report import write_cohort_report

            report_html = write_cohort_report(out, manifest=manifest)
        seconds = time.perf_counter() - t0
        ran = done + failed
        return BatchResult(
            out=out,
            analyses=tuple(a.name for a in analyses),
            total=len(manifest),
            done=done + skipped,
            failed=failed,
            skipped=skipped,
            ran=ran,
            seconds=seconds,
            cases_per_minute=ran / (seconds / 60) if ran else 0.0,
            cohort_csv=cohort_csv,
            failures_csv=failures_csv,
            report_html=report_html,
            failures=tuple(_failures_frame(manifest, failures).to_dict("records")),
        )
