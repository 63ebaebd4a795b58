"""The Dask client of a batch run: a LocalCluster sized for the analyses, or a running scheduler."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from ..errors import BoneQualityError, InputFileError

__all__ = ["THREAD_VARIABLES", "SchedulerError", "dask_client", "worker_environment"]

log = logging.getLogger(__name__)

#: Environment variables that size the thread pools of numpy's BLAS, OpenMP and ITK.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
)


class SchedulerError(BoneQualityError):
    """The Dask scheduler given with ``--scheduler`` cannot be reached."""


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
    environ.update(dict.fromkeys(THREAD_VARIABLES, inner))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


@contextlib.contextmanager
def _scheduler_client(scheduler: str):
    from distributed import Client

    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(f"--scheduler {scheduler}: cannot connect ({exc}).") from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None):
    """A ``distributed.Client``: to ``scheduler`` if given, else on a new LocalCluster.

    The LocalCluster has ``workers`` worker processes (default: the number of CPUs), each
    running one task at a time, with ``cpus // workers`` threads for numpy/OpenMP inside a
    task; its HTTP endpoint listens on a free port. Both are closed on exit.
    """
    if scheduler:
        with _scheduler_client(scheduler) as client:
            yield client
        return
    import dask
    from distributed import Client, LocalCluster

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
