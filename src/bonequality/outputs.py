"""Safe, atomic output: nothing half-written is left behind and no user file is destroyed.

Every writer in the library writes through these helpers.

* :func:`atomic_files` / :func:`atomic_file`: files are written to a hidden temporary
  folder next to the targets and renamed into place only when all of them succeeded.
* :func:`atomic_output_dir`: the results folder of a command (``--out``). It is checked
  first (:func:`prepare_output_dir`), filled in a hidden staging folder next to it and
  then swapped in whole by renames; the folder it replaces is removed only after the new
  one is in place. The folder gets a stamp (:data:`STAMP`) naming the analysis, the
  version, the time and the inputs, so that later runs recognise it as results.
* :func:`atomic_replace_dir`: the same swap without the checks or the stamp, for folders
  inside a results folder (e.g. a batch run's ``report/``).

The rules for an ``--out`` folder (one place, used by every command and by batch):

1. ``--out ""`` (an unset shell variable) is refused; so is a path that is a file.
2. It must not hold an input (an input file or folder inside it, or it equal to an
   input folder) nor lie inside an input folder (e.g. a DICOM series folder).
3. A folder that does not exist, or exists and is empty, is used.
4. A non-empty folder without the stamp holds user files: it is refused, always, even
   with ``--overwrite`` (nothing the user wrote is ever replaced).
5. A stamped folder holds the results of an earlier run: it is refused unless
   ``overwrite`` is given, then replaced whole (never mixed), as long as it holds only
   what that run wrote (the stamp lists it; a file the user added is refused as in 4).
   A batch run resumes in a folder stamped by the same batch (``resume``).

A failure (bad input, a crash, Ctrl-C, SIGTERM) leaves the output location as it was,
and error messages name the final paths, never the hidden temporary ones.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OutputFolderError

__all__ = [
    "STAMP",
    "atomic_file",
    "atomic_files",
    "atomic_output_dir",
    "atomic_replace_dir",
    "is_scratch",
    "json_default",
    "prepare_output_dir",
    "read_stamp",
    "to_json",
    "write_json",
    "write_stamp",
]

#: The hidden file that marks a folder as bonequality results (analysis, version, time, inputs).
STAMP = ".bonequality.json"
_TMP, _OLD = ".bq-tmp-", ".bq-old-"
#: Names of our own scratch files: staging and old folders of killed runs, batch's lock.
_SCRATCH_PREFIXES = (_TMP, _OLD, ".stage-", ".old-")
_SCRATCH_NAMES = frozenset({".batch.lock", STAMP})


def is_scratch(name: str) -> bool:
    """True for the names of bonequality's own hidden staging, old-folder and lock files."""
    return name in _SCRATCH_NAMES or name.startswith(_SCRATCH_PREFIXES) or _TMP in name or _OLD in name


# ------------------------------------------------------------------------------- atomic files


def _unstage(exc: BaseException, mapping: Mapping[Path, Path]) -> None:
    """Replace hidden temporary paths in ``exc`` (message, OSError file names) by the final ones."""

    def fix(text):
        if not isinstance(text, str):
            return text
        for tmp, final in mapping.items():
            text = text.replace(str(tmp), str(final))
        return text

    with contextlib.suppress(AttributeError, TypeError):
        exc.args = tuple(fix(a) for a in exc.args)
    if isinstance(exc, OSError):
        exc.filename, exc.filename2 = fix(exc.filename), fix(exc.filename2)


@contextlib.contextmanager
def atomic_files(*targets: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield temporary paths for ``targets``; rename all into place on success.

    On any exception the temporaries are deleted and the targets are untouched.
    The temporaries keep each target's full name (extensions matter to SimpleITK),
    inside a hidden temporary folder next to the first target. Errors name the targets,
    not the temporaries.
    """
    final = [Path(t) for t in targets]
    for f in final:
        f.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=_TMP, dir=final[0].parent))
    temps = [tmpdir / f"{i}_{f.name}" for i, f in enumerate(final)]
    mapping = {**dict(zip(temps, final)), tmpdir: final[0].parent}
    try:
        yield temps
        missing = [str(f) for f, t in zip(final, temps) if not t.exists()]
        if missing:
            raise RuntimeError(f"internal error: outputs not written: {', '.join(missing)}")
        for t, f in zip(temps, final):
            os.replace(t, f)
    except BaseException as exc:
        _unstage(exc, mapping)
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Single-file form of :func:`atomic_files`."""
    with atomic_files(target) as (tmp,):
        yield tmp


# ----------------------------------------------------------------------------------- JSON


def json_default(obj: Any) -> Any:
    """JSON encoder fallback for numpy scalars/arrays and paths."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text: numpy types converted, NaN and infinities written as ``null``.

    Bare ``NaN`` is not JSON, and strict parsers (JavaScript, jq, many databases) reject it.
    """
    plain = json.loads(json.dumps(data, default=json_default, allow_nan=True))
    return json.dumps(_finite(plain), indent=indent, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, strict JSON to ``path`` (not atomic by itself; see :func:`to_json`)."""
    Path(path).write_text(to_json(data) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------- output folders


def read_stamp(folder: str | os.PathLike) -> dict | None:
    """The stamp of a results folder (``analysis``, ``version``, ``written``, ...), or None."""
    try:
        stamp = json.loads((Path(folder) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and isinstance(stamp.get("analysis"), str) else None


def write_stamp(folder: str | os.PathLike, analysis: str, *, inputs: Iterable = (), **extra: Any) -> dict:
    """Mark ``folder`` as the results of ``analysis`` (see :data:`STAMP`); returns the stamp."""
    from . import __version__

    stamp = {
        "analysis": analysis,
        "version": __version__,
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "inputs": [str(p.absolute()) for p in _paths(inputs)],
        **extra,
    }
    with atomic_file(Path(folder) / STAMP) as tmp:
        write_json(tmp, stamp)
    return stamp


def _paths(inputs: Iterable) -> list[Path]:
    return [Path(p) for p in inputs if p is not None and str(p).strip()]


def _user_entry(folder: Path) -> Path | None:
    """The first file or folder in ``folder`` that is not our scratch (recursively), else None."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return None
    for p in entries:
        if is_scratch(p.name):
            continue
        if p.is_dir() and not p.is_symlink() and _user_entry(p) is None:
            continue  # a folder holding only scratch (e.g. batch's cases/.stage-*) counts as empty
        return p
    return None


def _resolved(out: str | os.PathLike | None, option: str) -> Path:
    if out is None or not str(out).strip():
        raise OutputFolderError(
            f"{option} is empty (an unset shell variable?); give the output folder to write, "
            "e.g. --out results"
        )
    return Path(os.path.expanduser(str(out))).resolve()


def _check_inputs(out: Path, given: str, inputs: Iterable, option: str) -> None:
    for p in _paths(inputs):
        rp = p.expanduser().resolve()
        if rp == out or out in rp.parents:
            raise OutputFolderError(
                f"{option} {given} holds the input {p}; choose an output folder that holds no input "
                "(e.g. a new folder next to it)"
            )
        if out.is_relative_to(rp) and rp.is_dir():
            raise OutputFolderError(
                f"{option} {given} is inside the input folder {p}; choose an output folder outside it"
            )


def prepare_output_dir(
    out: str | os.PathLike | None,
    analysis: str,
    *,
    inputs: Iterable = (),
    overwrite: bool = False,
    resume: Mapping[str, Any] | None = None,
    recognise: Callable[[Path], dict | None] | None = None,
    option: str = "--out",
    overwrite_option: str = "--overwrite",
) -> Path:
    """Check that ``out`` may receive the results of ``analysis``; return it, absolute.

    Parameters
    ----------
    out : path
        The output folder (``--out``).
    analysis : str
        What will be written (the command's name), recorded in the stamp.
    inputs : iterable of path
        Every input file or folder of the run: ``out`` must neither hold one nor lie inside
        an input folder.
    overwrite : bool
        Allow replacing a folder stamped by an earlier run (``--overwrite``).
    resume : mapping, optional
        A stamp of ``analysis`` whose items all equal these may be continued in place
        (batch: the same manifest); without ``overwrite`` any other stamp is refused.
    recognise : callable, optional
        ``recognise(folder)`` returns a stamp for an unstamped folder that holds results
        of ``analysis`` written before stamps existed (else None).
    option : str
        The option's name for messages.
    overwrite_option : str
        How the user allows ``overwrite``, for messages (the browser: its switch).

    Raises
    ------
    OutputFolderError
        ``out`` is empty, a file, holds or lies inside an input, holds files bonequality
        did not write (even with ``overwrite``), or results of another run (without it).
    """
    path = _resolved(out, option)
    given = str(out)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{option} {given} is a file; give a folder to write the results into")
    _check_inputs(path, given, inputs, option)
    if not path.is_dir():
        return path
    first = _user_entry(path)
    if first is None:
        return path
    stamp = read_stamp(path)
    if stamp is None and recognise is not None:
        stamp = recognise(path)
    if stamp is None:
        raise OutputFolderError(
            f"{option} {given} already holds files bonequality did not write (e.g. {first.name}); "
            f"choose a new or empty folder (they are never replaced, even with {overwrite_option})"
        )
    same = stamp["analysis"] == analysis and all(stamp.get(k) == v for k, v in (resume or {}).items())
    if resume is not None and same:
        return path
    if not overwrite:
        what = f"`bonequality {stamp['analysis']}`"
        when = f" of {stamp['written']}" if stamp.get("written") else ""
        raise OutputFolderError(
            f"{option} {given} holds the results of an earlier {what} run{when}; use {overwrite_option} "
            "to replace them or choose another folder"
        )
    foreign = _foreign(path, stamp)
    if foreign is not None:
        raise OutputFolderError(
            f"{option} {given} holds the results of an earlier `bonequality {stamp['analysis']}` run and "
            f"files it did not write (e.g. {foreign}); move them out first or choose another folder"
        )
    return path


def _foreign(folder: Path, stamp: Mapping[str, Any]) -> str | None:
    """The first top-level entry of a stamped folder that its run did not write, else None.

    ``stamp["files"]`` lists the names the run wrote; a name ending in ``*`` matches by
    prefix (batch: ``*.csv`` tables). A stamp without the list claims the whole folder.
    """
    names = stamp.get("files")
    if not isinstance(names, list):
        return None
    exact = {n for n in names if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
    for p in sorted(folder.iterdir()):
        if not (is_scratch(p.name) or p.name in exact or (prefixes and p.name.startswith(prefixes))):
            return p.name
    return None


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM during a few renames; the first one is acted on right after.

    Python runs signal handlers in the main thread whichever thread the OS delivered the
    signal to, so the handlers are swapped for ones that only record it (main thread only;
    elsewhere nothing can be installed and nothing is held).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[tuple[int, Any]] = []

    def hold(signum, frame):
        pending.append((signum, frame))

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        if pending:
            signum, frame = pending[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)  # e.g. raises KeyboardInterrupt: after the renames
            elif handler in (signal.SIG_DFL, None):
                os.kill(os.getpid(), signum)  # the default action (SIGTERM: terminate)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_in(stage: Path, target: Path) -> None:
    """Rename ``stage`` to ``target``; an existing ``target`` is moved aside first, removed last."""
    os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes 0700; give what a plain mkdir gives
    old = None
    try:
        with _signals_deferred():  # a signal held here is raised as the block ends
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD}", dir=target.parent))
                old.rmdir()
                os.replace(target, old)
            try:
                os.replace(stage, target)
            except BaseException:
                if old is not None:
                    os.replace(old, target)
                raise
    finally:
        if old is not None and old.exists() and target.exists():  # the new folder is in place
            shutil.rmtree(old, ignore_errors=True)


def _missing_parents(path: Path) -> list[Path]:
    """The ancestors of ``path`` that do not exist yet, deepest first."""
    return [p for p in path.parents if not p.exists()]


@contextlib.contextmanager
def atomic_replace_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder next to ``target``; on success it replaces ``target`` whole.

    No checks and no stamp: for folders inside a results folder the caller owns (e.g. a
    batch run's ``report/``). On any exception ``target`` is unchanged, and folders
    created for it are removed again. Errors name paths under ``target``, not the stage.
    """
    target = Path(os.path.abspath(os.path.expanduser(str(target))))
    created = _missing_parents(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP}", dir=target.parent))
    try:
        yield stage
        _swap_in(stage, target)
    except BaseException as exc:
        _unstage(exc, {stage: target})
        for p in created:
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def atomic_output_dir(
    target: str | os.PathLike | None,
    analysis: str = "output",
    *,
    inputs: Iterable = (),
    overwrite: bool = False,
    option: str = "--out",
    overwrite_option: str = "--overwrite",
) -> Iterator[Path]:
    """The results folder ``target`` of ``analysis``: checked, staged, stamped, swapped in whole.

    ``target`` is checked with :func:`prepare_output_dir` before anything is written
    (and again right before the swap); the caller writes into the yielded empty staging
    folder; on success the stamp is added and the stage replaces ``target`` (a stamped
    ``target`` from an earlier run only with ``overwrite``). On any exception nothing at
    ``target`` changes and a ``target`` that did not exist is not created.

    ``option`` and ``overwrite_option`` name the folder and the overwrite switch in messages.

    Raises
    ------
    OutputFolderError
        See :func:`prepare_output_dir`.
    """
    inputs = tuple(_paths(inputs))
    checks = {
        "analysis": analysis,
        "inputs": inputs,
        "overwrite": overwrite,
        "option": option,
        "overwrite_option": overwrite_option,
    }
    path = prepare_output_dir(target, **checks)
    with atomic_replace_dir(path) as stage:
        yield stage
        write_stamp(stage, analysis, inputs=inputs, files=sorted(p.name for p in stage.iterdir()))
        prepare_output_dir(target, **checks)  # the folder may have changed while we computed
