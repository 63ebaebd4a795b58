"""`import bonequality` must not pull in slicer, qt, ctk or vtk (checked in a fresh interpreter)."""

import json
import subprocess
import sys

FORBIDDEN = ("slicer", "qt", "ctk", "vtk", "vtkmodules", "PythonQt")


def test_import_bonequality_loads_no_gui_or_mrml_modules():
    code = (
        "import sys, json, bonequality, bonequality.cli, bonequality.geometry, bonequality.segmentation;"
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_importing_the_cli_registers_commands():
    from bonequality.cli import build_parser

    text = build_parser().format_help()
    assert "phantom" in text
    assert "demo" in text


def test_the_cli_parser_loads_neither_pandas_nor_dask():
    """``bonequality view`` (and every command) parses its arguments without the batch runner's
    pandas and Dask: they cost the web server about 30 MB and only ``batch`` needs them."""
    code = (
        "import sys, json, bonequality.cli as cli; cli.build_parser();"
        "import bonequality.batch as batch; assert batch.INPUT_COLUMNS;"
        "print(json.dumps([m for m in ('pandas', 'dask', 'distributed') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    # and the runner's names are still there when asked for
    from bonequality import batch

    assert batch.run_batch.__module__ == "bonequality.batch.runner"
