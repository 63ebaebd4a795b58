"""``bonequality view``: the three modules in the browser, on Slicer's own views (trame-slicer).

Needs the ``[web]`` extra. The CT, landmarks and masks are read and checked first, so a
file that cannot be read exits 2 with the usual one-line message before any server
starts. The server binds 127.0.0.1 unless ``--host`` says otherwise, prints its URL and
runs until SIGINT (Ctrl-C) or SIGTERM.
"""

from __future__ import annotations

NAME = "view"
HELP = "open the CT in the browser: slice and 3-D views with the three modules' panels (needs [web])"


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' must be between 0 (any free port) and 65535")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("ct", help="CT image (NRRD, NIfTI, MHA or DICOM folder), HU")
    parser.add_argument(
        "--landmarks", help="Slicer .mrk.json with landmarks (missing ones are placed in the page)"
    )
    parser.add_argument(
        "--vertebra-mask", help="vertebra mask (label map or .seg.nrrd) for CementVolume/FocalDefect"
    )
    parser.add_argument("--sacrum-mask", help="sacrum mask: the envelope of the sacroplasty planning")
    parser.add_argument(
        "--port", type=_port, default=8080, help="port to listen on (default 8080; 0 = any free)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, this machine)"
    )


def run(args, progress=None) -> dict:
    from ..progress import report
    from ..web import require_web

    require_web()
    from ..web.scene import read_inputs

    report(progress, 0.0, "reading the inputs")
    inputs = read_inputs(
        args.ct,
        landmarks_path=args.landmarks,
        masks={"vertebra": args.vertebra_mask, "sacrum": args.sacrum_mask},
    )
    report(progress, 0.5, "starting the server")
    from ..web.app import serve

    return serve(inputs, host=args.host, port=args.port)
