"""``bonequality`` command-line interface: one subcommand per analysis.

The only place in the package that prints or exits. Exit codes: 0 success, 2 bad input
(a :class:`~bonequality.errors.BoneQualityError`, or bad arguments), 1 internal error,
130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM (``timeout``, Slurm,
``docker stop``). Both signals are handled alike: the work stops with an exception, so
every cleanup runs (outputs are written atomically by the commands: no partial file is
left behind), and one line says what was kept. A repeated signal during that cleanup is
ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterator

from . import __version__
from .commands import check_output_dir, load_commands
from .errors import BoneQualityError, OperationCancelled
from .outputs import to_json

__all__ = ["Terminated", "build_parser", "main", "parse_args", "run_command"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for any bad input
        self.exit(2, f"bonequality: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bonequality", description="CT bone quality around the sacrum and spine.")
    parser.add_argument("--version", action="version", version=f"bonequality {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in load_commands():
        text = mod.HELP.replace("%", "%%")  # argparse formats help strings with %
        p = sub.add_parser(mod.NAME, help=text, description=text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
        if getattr(mod, "OUTPUT_FOLDER", False):
            p.add_argument(
                "--overwrite",
                action="store_true",
                help="replace the results of an earlier run in --out, whole (a folder holding files "
                "bonequality did not write is never replaced)",
            )
            p.set_defaults(_check_out=True)
    return parser


class _Bar:
    """tqdm progress bar on stderr driven by ``progress(fraction, message)``."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=1000, file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {elapsed}")

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(message[:40])
            self.bar.n = int(fraction * 1000)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


_NEGATIVE_TUPLE = re.compile(r"^-\d*\.?\d+(,\s*-?\d*\.?\d+)+$")


def _join_negative_tuples(argv: list[str]) -> list[str]:
    """``--seed -12.5,-80,210`` -> ``--seed=-12.5,-80,210``.

    argparse takes a value starting with ``-`` for an option unless it is a single
    number; LPS coordinates are often negative, so join such tuples to their option.
    """
    out: list[str] = []
    for tok in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_TUPLE.match(tok):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a command line (``sys.argv[1:]`` by default); bad arguments exit 2 with one line."""
    return build_parser().parse_args(_join_negative_tuples(sys.argv[1:] if argv is None else list(argv)))


def run_command(args: argparse.Namespace, progress=None):
    """Run a parsed command and return its JSON-able summary.

    Raises what the command raises (a :class:`~bonequality.errors.BoneQualityError` for
    bad input): the same typed errors the library, batch and the Slicer logics raise.
    :func:`main` turns them into exit codes. A results folder (``--out``) is checked
    before the work starts (:func:`~bonequality.commands.check_output_dir`).
    """
    if getattr(args, "_check_out", False):
        check_output_dir(args)
    return args._run(args, progress)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that every ``finally`` cleanup runs."""


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, SIGTERM :class:`Terminated`; later ones are ignored.

    Only the first signal stops the work: one arriving while the cleanups run would
    interrupt them and leave staging folders behind (Slurm and ``docker stop`` send
    SIGKILL after their grace period anyway). A signal the caller ignores stays ignored;
    outside the main thread nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum, frame):
        if fired:
            return
        fired.append(signum)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stopped(exc: BaseException) -> int:
    """Print the one line of an interrupted run: what stopped it and what was kept."""
    verb = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    kept = getattr(exc, "outcome", None) or "no partial output was written"
    print(f"bonequality: {verb}; {kept}", file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    with _signals_as_exceptions():
        try:
            return _main(argv)
        except KeyboardInterrupt as exc:  # a signal outside the command itself (parsing, printing)
            return _stopped(exc)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if not getattr(args, "command", None):
        build_parser().print_help()
        return 2
    bar = _Bar(enabled=not args.no_progress and sys.stderr.isatty())
    try:
        result = run_command(args, bar)
    except BoneQualityError as exc:
        bar.close()
        print(f"bonequality: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable output folder, full disk, ...: the user can fix it
        bar.close()
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"bonequality: error: cannot write output: {exc.strerror or exc}{where}; "
            "choose an --out location inside a writable folder",
            file=sys.stderr,
        )
        return 2
    except (OperationCancelled, KeyboardInterrupt) as exc:
        bar.close()
        return _stopped(exc)
    except Exception as exc:  # an internal error: show where, exit 1
        bar.close()
        traceback.print_exc(file=sys.stderr)
        print(f"bonequality: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    bar.close()
    if result is not None:
        print(to_json(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
