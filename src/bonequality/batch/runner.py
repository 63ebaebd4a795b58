"""Run analyses over a manifest on Dask: resumable, one atomic folder per case.

Layout of the output folder ``DIR``::

    DIR/cases/<case_id>/summary.json     written last; its presence means "published"
    DIR/cases/<case_id>/<analysis>/...   exactly the files `bonequality <analysis>` writes
    DIR/cohort.csv                       one row per manifest case: status, metadata, figures
    DIR/failures.csv                     one row per failed analysis, with the error message
    DIR/<table>.csv                      per-case tables concatenated (e.g. profiles.csv)
    DIR/report.html, DIR/report/*.png    the cohort report (:mod:`bonequality.batch.report`)

Each case runs in a Dask worker (:func:`~bonequality.batch.case.run_case`): every
analysis on its own, so one failing analysis costs only its own results. A case is
``done`` (every analysis succeeded), ``partial`` (published with the successful ones) or
``failed`` (none succeeded, nothing published).

**The output folder.** ``DIR`` is checked as every command's ``--out`` is
(:func:`~bonequality.outputs.prepare_output_dir`): it must not hold the manifest or any
case's input, nor lie inside an input folder, nor hold files bonequality did not write.
It is stamped (``DIR/.bonequality.json``) with the manifest's path: a rerun with the same
manifest resumes; a folder of another manifest or analysis is refused unless
``overwrite`` is given, and then replaced whole by an empty one before the run starts (a
folder written before stamps existed, with ``cohort.csv`` and ``cases/``, is resumed).

**Resume.** A rerun skips the ``done`` cases whose analyses, input cells and input files
(size and modification time, :attr:`~bonequality.batch.manifest.Case.fingerprint`) are
unchanged and redoes every other case: missing, failed and partial ones, as failed cases always
were. A partial case runs all its analyses again; its published folder stays until the
new one replaces it, and until then ``cohort.csv`` shows it as it was (partial, with its
figures) as long as ``failures.csv`` agrees with its ``summary.json``. ``cohort.csv`` and
``failures.csv`` are rebuilt from the per-case results and replaced atomically, so they
never hold duplicated or half-written rows.

**Interrupts.** Ctrl-C, SIGTERM or a progress callback raising OperationCancelled stop
the run: running cases are cancelled, the finished ones are kept (``cohort.csv`` lists
them), staging folders are removed, and the exception leaves with an ``outcome``
attribute, one line saying what was kept and how to resume (the CLI prints it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputFileError, OperationCancelled
from ..outputs import STAMP, atomic_replace_dir, is_scratch, prepare_output_dir, read_stamp, write_stamp
from ..progress import ProgressCallback, report
from .analysis import Analysis, case_analyses
from .case import SUMMARY, CaseOutcome, case_dir, failure_row, run_case
from .cluster import SchedulerError, check_scheduler, check_workers, dask_client, worker_environment
from .manifest import Case, Manifest
from .tables import build_cohort, collect_tables, failures_frame, read_failures, write_csv

__all__ = [
    "BatchProgress",
    "BatchResult",
    "CaseOutcome",
    "SchedulerError",
    "build_cohort",
    "check_batch_dir",
    "dask_client",
    "finished_summary",
    "run_batch",
    "run_case",
    "worker_environment",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchProgress:
    """Counts passed to ``on_case`` after every finished case.

    ``done`` counts the cases finished with every analysis (``skipped`` of them before
    this run); ``failed`` the cases with a failed analysis (they are redone by a rerun),
    ``partial`` of which kept the results of their other analyses; ``rate_per_min`` the
    cases this run completed per minute of wall time.
    """

    total: int
    done: int
    failed: int
    skipped: int
    remaining: int
    rate_per_min: float
    partial: int = 0

    def message(self) -> str:
        part = f" ({self.partial} partial)" if self.partial else ""
        rate = f"{self.rate_per_min:.1f}/min"
        return f"{self.done} done, {self.failed} failed{part}, {self.remaining} left, {rate}"


@dataclass(frozen=True)
class BatchResult:
    """Summary of a batch run (JSON-able through :meth:`to_dict`).

    ``done``, ``failed`` and ``partial`` count cases as :class:`BatchProgress` does;
    ``failures`` has one record per failed analysis (as failures.csv).
    """

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
    partial: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("out", "cohort_csv", "failures_csv", "report_html"):
            d[k] = None if d[k] is None else str(d[k])
        d["failures"] = [dict(f) for f in self.failures]
        return d


def _published(out: Path, case: Case) -> dict | None:
    """The case's published summary if it was made from the same input cells, else None."""
    try:
        summary = json.loads((case_dir(out, case.case_id) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if summary.get("fingerprint") == case.fingerprint else None


def finished_summary(out: str | os.PathLike, case: Case, analyses: tuple[Analysis, ...]) -> dict | None:
    """The case's summary if it finished every one of these analyses with unchanged inputs, else None."""
    summary = _published(Path(out), case)
    if summary is None or summary.get("status") != "done":
        return None
    if not {a.name for a in case_analyses(case, analyses)} <= set(summary.get("analyses", ())):
        return None
    return summary


def _identity(manifest: Manifest) -> dict:
    """What a batch folder's stamp must match for a rerun to resume in it."""
    return {"manifest": str(Path(manifest.path).resolve())}


def _layout(analyses=()) -> list[str]:
    """The top-level names a batch run writes in ``DIR`` (the stamp's ``files``)."""
    from .registry import ANALYSES

    tables = {t for a in (*ANALYSES.values(), *analyses) for t in a.tables}
    return ["cases", "cohort.csv", "failures.csv", "report", "report.html", *sorted(tables)]


def _old_batch_folder(manifest: Manifest):
    """``recognise`` for a batch folder written before stamps existed (cohort.csv and cases/)."""

    def recognise(folder: Path) -> dict | None:
        try:
            with (folder / "cohort.csv").open(encoding="utf-8") as fh:
                header = fh.readline()
        except (OSError, UnicodeDecodeError):
            return None
        if not (header.startswith("case_id,status") and (folder / "cases").is_dir()):
            return None
        return {"analysis": "batch", "files": _layout(), **_identity(manifest)}

    return recognise


def check_batch_dir(out: str | os.PathLike, manifest: Manifest, *, overwrite: bool = False) -> Path:
    """Check that ``out`` may hold this batch run (see the module docstring); return it, absolute.

    Raises
    ------
    OutputFolderError
        ``out`` is empty, a file, holds the manifest or a case's input, lies inside an
        input folder, holds files bonequality did not write, or (without ``overwrite``)
        the results of another manifest or analysis.
    """
    inputs = [manifest.path, *(v for c in manifest.cases for v in c.inputs.values() if isinstance(v, Path))]
    return prepare_output_dir(
        out,
        "batch",
        inputs=inputs,
        overwrite=overwrite,
        resume=_identity(manifest),
        recognise=_old_batch_folder(manifest),
    )


def _write_stamp(out: Path, manifest: Manifest) -> None:
    """Stamp ``out`` as this manifest's batch folder, keeping a stamp that already matches."""
    old = read_stamp(out) or {}
    identity = _identity(manifest)
    if old.get("analysis") != "batch" or any(old.get(k) != v for k, v in identity.items()):
        write_stamp(out, "batch", inputs=[manifest.path], files=_layout(), **identity)


def _prepare(out: str | os.PathLike, manifest: Manifest, overwrite: bool) -> Path:
    """Check ``out``; with ``overwrite`` replace earlier results by an empty folder; create it."""
    path = check_batch_dir(out, manifest, overwrite=overwrite)
    if overwrite and path.is_dir() and any(not is_scratch(p.name) for p in path.iterdir()):
        with _lock(path), atomic_replace_dir(path) as stage:
            _write_stamp(stage, manifest)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clean_stale(out: Path) -> None:
    """Remove staging leftovers of killed runs (hidden ``.stage-*``, ``.old-*``, ``*.bq-tmp-*``, ...)."""
    for folder in (out, out / "cases"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if is_scratch(p.name) and p.name not in (".batch.lock", STAMP):
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


class _Run:
    """The state of one run: what is finished, what failed, the counts and the cohort files."""

    def __init__(self, manifest: Manifest, analyses: tuple[Analysis, ...], out: Path):
        self.manifest, self.analyses, self.out = manifest, analyses, out
        self.cohort_csv, self.failures_csv = out / "cohort.csv", out / "failures.csv"
        self.t0 = time.perf_counter()
        self.summaries: dict[str, dict] = {}
        self.failures: dict[str, tuple[dict, ...]] = {}
        self.todo: list[Case] = []
        self.done = self.failed = self.partial = 0
        self._resume()
        self.skipped = len(self.manifest) - len(self.todo)

    def _resume(self) -> None:
        """Skip the finished cases; show the others as the last run left them."""
        earlier = read_failures(self.failures_csv)
        for case in self.manifest.cases:
            s = finished_summary(self.out, case, self.analyses)
            if s is not None:
                self.summaries[case.case_id] = s
                continue
            self.todo.append(case)
            rows = earlier.get(case.case_id, ())
            s = _published(self.out, case)
            recorded = tuple(s.get("failures", ())) if s and s.get("status") == "partial" else None
            if recorded is not None and {r["analysis"] for r in rows} <= {r["analysis"] for r in recorded}:
                self.summaries[case.case_id] = s
                self.failures[case.case_id] = recorded
            elif rows:
                self.failures[case.case_id] = rows

    def counts(self) -> BatchProgress:
        minutes = max(time.perf_counter() - self.t0, 1e-9) / 60
        ran = self.done + self.failed
        return BatchProgress(
            total=len(self.manifest),
            done=self.done + self.skipped,
            failed=self.failed,
            skipped=self.skipped,
            remaining=len(self.todo) - ran,
            rate_per_min=ran / minutes,
            partial=self.partial,
        )

    def flush(self) -> None:
        write_csv(build_cohort(self.manifest, self.summaries, self.failures, self.analyses), self.cohort_csv)
        write_csv(failures_frame(self.manifest, self.failures), self.failures_csv)

    def record(self, outcome: CaseOutcome) -> None:
        cid = outcome.case_id
        if outcome.status == "failed":
            self.summaries.pop(cid, None)
            log.warning("case %s failed: %s", cid, outcome.error)
        else:
            self.summaries[cid] = outcome.summary or {"status": outcome.status, "figures": outcome.figures}
        if outcome.failures:
            self.failures[cid] = tuple(outcome.failures)
            if outcome.status == "partial":
                log.warning("case %s partly failed: %s", cid, outcome.error)
        else:
            self.failures.pop(cid, None)
        self.done += outcome.status == "done"
        self.failed += outcome.status != "done"
        self.partial += outcome.status == "partial"

    def worker_failed(self, case: Case, exc: BaseException) -> CaseOutcome:
        """The outcome of a case whose worker died (KilledWorker) or similar: every analysis failed."""
        names = [a.name for a in case_analyses(case, self.analyses)] or [""]
        rows = tuple(failure_row(case, n, exc, prefix="the worker running it failed: ") for n in names)
        return CaseOutcome(case.case_id, case.row, "failed", failures=rows)

    def result(self, report_html: Path | None) -> BatchResult:
        seconds = time.perf_counter() - self.t0
        ran = self.done + self.failed
        return BatchResult(
            out=self.out,
            analyses=tuple(a.name for a in self.analyses),
            total=len(self.manifest),
            done=self.done + self.skipped,
            failed=self.failed,
            skipped=self.skipped,
            ran=ran,
            seconds=seconds,
            cases_per_minute=ran / (seconds / 60) if ran else 0.0,
            cohort_csv=self.cohort_csv,
            failures_csv=self.failures_csv,
            report_html=report_html,
            failures=tuple(failures_frame(self.manifest, self.failures).to_dict("records")),
            partial=self.partial,
        )


def _execute(
    state: _Run,
    client,
    *,
    progress: ProgressCallback | None,
    on_case: Callable[[CaseOutcome, BatchProgress], None] | None,
    flush_every_s: float,
) -> None:
    """Submit every case to do, record them as they finish; cancel the rest on OperationCancelled."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = [
        client.submit(run_case, c, state.analyses, str(state.out), key=f"bq-{c.case_id}-{token}", pure=False)
        for c in state.todo
    ]
    by_key = {f.key: c for f, c in zip(futures, state.todo)}
    last_flush = 0.0
    try:
        for fut in as_completed(futures):
            case = by_key[fut.key]
            try:
                outcome = fut.result()
            except Exception as exc:  # the worker died (KilledWorker) or similar
                outcome = state.worker_failed(case, exc)
            state.record(outcome)
            counts = state.counts()
            if on_case is not None:
                on_case(outcome, counts)
            now = time.perf_counter()
            if outcome.status != "done" or now - last_flush >= flush_every_s:
                state.flush()
                last_flush = now
            report(progress, (counts.done + counts.failed) / counts.total, counts.message())
    except (OperationCancelled, KeyboardInterrupt):
        client.cancel(futures)
        state.flush()
        raise


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
    overwrite: bool = False,
) -> BatchResult:
    """Run ``analyses`` on every unfinished case of ``manifest`` on Dask.

    Parameters
    ----------
    manifest : Manifest
    analyses : tuple of Analysis
        From :func:`~bonequality.batch.registry.get_analyses`.
    out : path
        Output folder ``DIR`` (created; reused by reruns of the same manifest, which skip
        finished cases; checked as the module docstring says).
    workers : int, optional
        Worker processes of the LocalCluster (one thread each); default and bounds:
        :func:`~bonequality.batch.cluster.check_workers` (at most the CPU cores).
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
        ``cohort.csv`` and ``failures.csv`` are rewritten at most this often (and at the
        end, and after every case with a failed analysis).
    overwrite : bool
        Start afresh: replace the results of an earlier run in ``out`` (of this or
        another manifest) by an empty folder first.

    Returns
    -------
    BatchResult

    Raises
    ------
    OutputFolderError
        ``out`` may not be used (:func:`check_batch_dir`).
    OptionError
        ``workers`` or ``scheduler`` out of bounds or malformed.
    OperationCancelled, KeyboardInterrupt
        The run was stopped; the exception's ``outcome`` says what was kept.
    """
    if client is None and scheduler:  # bad options fail before anything is written
        check_scheduler(scheduler)
    elif client is None:
        check_workers(workers)
    out = _prepare(out, manifest, overwrite)
    with _lock(out):
        _write_stamp(out, manifest)
        _clean_stale(out)
        state = None
        try:
            state = _Run(manifest, analyses, out)
            connect = functools.partial(dask_client, workers=workers, scheduler=scheduler)
            options = {"progress": progress, "on_case": on_case, "every": flush_every_s}
            return _run(state, client, connect, write_report=write_report, **options)
        except (OperationCancelled, KeyboardInterrupt) as exc:
            exc.outcome = _kept(state, out)
            raise
        finally:
            _clean_stale(out)  # stages of cases cancelled or killed in the workers


def _run(state: _Run, client, connect, *, progress, on_case, write_report: bool, every: float) -> BatchResult:
    """The run itself: record the resumed cases, compute the others, write the tables and report.

    Without a ``client``, ``connect()`` gives one (a new cluster, open only while there
    are cases to compute).
    """
    state.flush()
    counts = state.counts()
    report(progress, counts.skipped / counts.total, counts.message())
    if state.todo:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(connect())
            _execute(state, client, progress=progress, on_case=on_case, flush_every_s=every)
    state.flush()
    collect_tables(state.out, state.manifest, state.analyses, state.summaries)
    report_html = None
    if write_report:
        from .report import write_cohort_report

        report_html = write_cohort_report(state.out, manifest=state.manifest)
    return state.result(report_html)


def _kept(state: _Run | None, out: Path) -> str:
    """The one line an interrupted run ends with: what was kept, how to resume."""
    if state is None:
        return f"the results in {out} are as they were; run the same command again to resume"
    # from the case folders: cases finished in a worker just before the stop count too
    done = sum(finished_summary(out, c, state.analyses) is not None for c in state.manifest.cases)
    return (
        f"{done} of {len(state.manifest)} cases finished and kept in {out}; "
        "run the same command again to resume"
    )
