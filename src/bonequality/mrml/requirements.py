"""Python packages the Slicer modules need beyond what Slicer bundles, installed on first use.

Slicer bundles numpy, scipy, SimpleITK, VTK and MRML (its ``SuperBuild/External_python-*.cmake``),
and the three modules need nothing else to start. Their result tables go through pandas
(:mod:`bonequality.mrml.tables`), which Slicer does not bundle. When a module is first
opened and pandas is missing, :func:`ensure` asks the user and installs the pinned version
with ``slicer.util.pip_install``, constrained to the numpy and python-dateutil that Slicer
already has, so nothing Slicer bundles is replaced. A "no" is remembered for the session and
answered with :func:`declined_message`, which says how to install it later.

The pins follow Slicer's Python: Slicer 5.10 to 5.12 run Python 3.12 with numpy 2 (pandas
3.1.1, the version of ``constraints.txt``); Slicer 5.8 runs Python 3.9 with numpy 1.26
(pandas 2.2.3, the last release for both).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KEEP",
    "PINS",
    "REQUIRED",
    "Requirement",
    "constraints_text",
    "declined_message",
    "ensure",
    "install",
    "missing",
    "pinned",
]


@dataclass(frozen=True)
class Requirement:
    """A package the modules import after start-up: pip name, import name, what it is for."""

    name: str
    module: str
    purpose: str


REQUIRED: tuple[Requirement, ...] = (Requirement("pandas", "pandas", "the result tables"),)

#: Distribution -> ((lowest Python (major, minor), pinned version), ...), newest Python first.
PINS: dict[str, tuple[tuple[tuple[int, int], str], ...]] = {
    "pandas": (((3, 11), "3.1.1"), ((3, 9), "2.2.3")),
    "pytz": (((3, 9), "2026.6"),),  # pandas 2.2 needs it
    "tzdata": (((3, 9), "2026.6"),),  # pandas on Windows, and pandas 2.2 everywhere
}

#: Packages Slicer bundles that an install must leave at their installed versions.
KEEP = ("numpy", "python-dateutil", "six")

log = logging.getLogger(__name__)

_declined: set[str] = set()


def pinned(name: str, python: tuple[int, int] | None = None) -> str:
    """``name==version`` for Slicer's Python (default: the running one)."""
    python = python or tuple(sys.version_info[:2])
    for lowest, version in PINS[name]:
        if python >= lowest:
            return f"{name}=={version}"
    raise ValueError(f"no pinned {name} for Python {python[0]}.{python[1]}; Slicer 5.8 or later is needed.")


def missing(requirements: Sequence[Requirement] = REQUIRED) -> list[Requirement]:
    """The requirements that cannot be imported here."""
    out = []
    for req in requirements:
        try:
            found = importlib.util.find_spec(req.module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(req)
    return out


def constraints_text(python: tuple[int, int] | None = None, installed: dict[str, str] | None = None) -> str:
    """A pip constraints file: the :data:`KEEP` packages as installed, the other pins for ``python``."""
    if installed is None:
        installed = {}
        for name in KEEP:
            try:
                installed[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
    lines = [f"{name}=={version}" for name, version in sorted(installed.items()) if name in KEEP]
    lines += [pinned(name, python) for name in PINS if name not in installed]
    return "\n".join(lines) + "\n"


def install(requirements: Sequence[Requirement], *, pip_install: Callable | None = None) -> None:
    """Install the pinned versions of ``requirements`` under :func:`constraints_text`.

    ``pip_install`` (default ``slicer.util.pip_install``) gets one list of pip arguments,
    the form every supported Slicer accepts (5.8's ``pip_install(requirements)``; 5.10 and
    later add keyword options and show a progress dialog).
    """
    with tempfile.TemporaryDirectory(prefix="bonequality-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(constraints_text(), encoding="utf-8")
        args = [*(pinned(r.name) for r in requirements), "-c", str(constraints)]
        if pip_install is None:
            import slicer.util

            slicer.util.pip_install(args)
        else:
            pip_install(args)
    importlib.invalidate_caches()


def _question(requester: str, todo: Sequence[Requirement]) -> str:
    items = "\n".join(f"- {pinned(r.name)} for {r.purpose}" for r in todo)
    return (
        f"{requester} needs Python packages that 3D Slicer does not include:\n{items}\n\n"
        "Install them now into Slicer's Python? This downloads them from the Python Package Index."
    )


def declined_message(todo: Sequence[Requirement] | None = None) -> str:
    """What to tell the user when the packages are not installed."""
    todo = missing() if todo is None else todo
    specs = " ".join(pinned(r.name) for r in todo)
    return (
        f"Not installed: {specs}. The analyses need it for their result tables. To install it, "
        f"reopen the module after restarting Slicer, or run slicer.util.pip_install('{specs}') "
        "in the Python console."
    )


def _ask_in_slicer(question: str, title: str) -> bool:
    import slicer.util

    return bool(slicer.util.confirmOkCancelDisplay(question, windowTitle=title))


def ensure(
    requester: str,
    *,
    ask: Callable[[str, str], bool] | None = None,
    pip_install: Callable | None = None,
) -> bool:
    """True when every requirement can be imported, after installing it if the user agrees.

    Parameters
    ----------
    requester : str
        The module's title, shown in the question.
    ask : callable(question, title) -> bool, optional
        Default: Slicer's OK/Cancel dialog (``slicer.util.confirmOkCancelDisplay``).
    pip_install : callable(args), optional
        Default: ``slicer.util.pip_install``.

    A refusal is remembered for this session: later calls return False without asking. A
    failed installation (no network, say) is logged and returns False; the next call asks again.
    """
    todo = missing()
    if not todo:
        return True
    if requester in _declined:
        return False
    if not (ask or _ask_in_slicer)(_question(requester, todo), f"{requester}: install Python packages"):
        _declined.add(requester)
        return False
    try:
        install(todo, pip_install=pip_install)
    except Exception:  # pip's CalledProcessError, OSError...: report, keep the module usable
        log.exception("installing %s failed", ", ".join(pinned(r.name) for r in todo))
        return False
    return not missing(todo)
