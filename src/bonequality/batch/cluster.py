"""The Dask client of a batch run: a LocalCluster sized for the analyses, or a running scheduler.

Local workers are bounded by the machine: at most one per CPU core available to this
process, and at most one per :data:`WORKER_MEMORY` of its memory (a larger ``--workers``
is refused with :class:`~bonequality.errors.OptionError`, it would only make the cases
compete for cores and memory); each worker gets an equal share of the memory as its Dask
``memory_limit`` (a case above it is stopped and recorded as failed). The workers ignore
Ctrl-C (SIGINT), which a terminal sends to every process of the job: the main process
stops the run, keeps the finished cases and closes the cluster, without the workers'
tracebacks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from collections.abc import Iterator

from ..errors import BoneQualityError, OptionError

__all__ = [
    "THREAD_VARIABLES",
    "WORKER_MEMORY",
    "SchedulerError",
    "available_cpus",
    "check_scheduler",
    "check_workers",
    "dask_client",
    "worker_environment",
]

log = logging.getLogger(__name__)

#: Environment variables that size the thread pools of numpy's BLAS, OpenMP and ITK.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
)


#: Memory each local worker needs at least (a 3 mm pelvic CT case peaks well below it).
WORKER_MEMORY = 2 * 2**30

#: ``[protocol://]host:port`` of a Dask scheduler.
_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")


class SchedulerError(BoneQualityError):
    """The Dask scheduler given with ``--scheduler`` cannot be reached."""


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _memory_bytes() -> int:
    from distributed.system import MEMORY_LIMIT  # physical memory, or the cgroup limit

    return int(MEMORY_LIMIT)


def check_workers(workers: int | None) -> int:
    """The number of local workers for ``--workers`` (None: as many as the machine allows).

    Raises
    ------
    OptionError
        ``workers`` is below 1, above the CPU cores available, or more than the memory
        holds at :data:`WORKER_MEMORY` each.
    """
    cpus = available_cpus()
    by_memory = max(1, _memory_bytes() // WORKER_MEMORY)
    if workers is None:
        return max(1, min(cpus, by_memory))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise OptionError(f"--workers {workers}: give a whole number of at least 1 worker process.")
    if workers > cpus:
        raise OptionError(
            f"--workers {workers}: this machine has {cpus} CPU core{'s' * (cpus != 1)} for this run; "
            f"give at most {cpus} (more workers only compete for the cores and the memory)."
        )
    if workers > by_memory:
        gib = _memory_bytes() / 2**30
        raise OptionError(
            f"--workers {workers}: {gib:.1f} GiB of memory holds at most {by_memory} workers at "
            f"{WORKER_MEMORY / 2**30:.0f} GiB each; give at most {by_memory}."
        )
    return workers


def check_scheduler(address: str) -> str:
    """``address`` if it has the form of a Dask scheduler address, else :class:`OptionError`."""
    text = str(address).strip()
    if not _ADDRESS.match(text):
        raise OptionError(
            f"--scheduler {address!r} is not a scheduler address; give host:port or "
            "tcp://host:port (also tls://, ws://, wss://, ucx://), e.g. tcp://10.0.0.5:8786."
        )
    return text


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

    inner = str(max(1, available_cpus() // max(1, int(workers))))
    environ = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()}
    environ.update(dict.fromkeys(THREAD_VARIABLES, inner))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


@contextlib.contextmanager
def _scheduler_client(scheduler: str):
    from distributed import Client

    address = check_scheduler(scheduler)
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerError(
            f"--scheduler {scheduler}: cannot connect ({reason}); start the scheduler or check the address."
        ) from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None):
    """A ``distributed.Client``: to ``scheduler`` if given, else on a new LocalCluster.

    The LocalCluster has ``workers`` worker processes (default and bounds:
    :func:`check_workers`), each running one task at a time with an equal share of the
    memory as its limit, with ``cpus // workers`` threads for numpy/OpenMP inside a task;
    its HTTP endpoint listens on a free port. Both are closed on exit.

    Raises
    ------
    OptionError
        ``workers`` out of bounds, or ``scheduler`` not an address (:func:`check_scheduler`).
    SchedulerError
        The scheduler cannot be reached.
    """
    if scheduler:
        with _scheduler_client(scheduler) as client:
            yield client
        return
    import dask
    from distributed import Client, LocalCluster

    n = check_workers(workers)
    config = {
        "distributed.nanny.pre-spawn-environ": worker_environment(n),
        # send every case to a worker at once instead of one at a time after each result:
        # no scheduler round trip between two cases (cases are independent and similar).
        "distributed.scheduler.worker-saturation": float("inf"),
    }
    with _quiet_distributed(), dask.config.set(config), contextlib.ExitStack() as restore:
        with _sigint_ignored():  # the worker processes inherit it
            # ":0": the scheduler's HTTP endpoint on a free port, so concurrent runs never collide.
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                memory_limit=max(1, _memory_bytes() // n),
            )
        try:
            client = Client(cluster)
            try:
                yield client
            except BaseException:
                # the run is being stopped: workers and comms closing are not news
                restore.enter_context(_silenced("distributed", "tornado", "asyncio"))
                raise
            finally:
                client.close()
        finally:
            cluster.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes start (main thread only): they inherit SIG_IGN."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _silenced(*names: str) -> Iterator[None]:
    """Drop every record of these loggers until the block ends."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


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
