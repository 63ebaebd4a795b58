"""``bonequality view``: bad input exits 2 before any server starts; SIGINT/SIGTERM stop it within 5 s."""

from __future__ import annotations

import signal
import urllib.request

import pytest
from web_support import ViewServer, require_web

from bonequality.cli import main
from bonequality.phantoms import make_phantom, write_phantom


def test_unreadable_ct_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "not_a_ct.nrrd"
    bad.write_text("not an image")
    assert main(["--no-progress", "view", str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("bonequality: error:")
    assert "not_a_ct.nrrd" in err


def test_missing_ct_exits_2(tmp_path, capsys):
    assert main(["--no-progress", "view", str(tmp_path / "missing.nrrd")]) == 2
    assert "missing.nrrd" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cemented(tmp_path_factory):
    require_web()
    folder = tmp_path_factory.mktemp("web_cli")
    return write_phantom(make_phantom("cemented-vertebra"), folder / "cemented.nrrd")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_on_localhost_and_stops_on_signal(cemented, sig):
    server = ViewServer(cemented["image"], "--vertebra-mask", cemented["mask:vertebra"])
    try:
        url = server.wait()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        code, seconds = server.stop(sig, timeout=5.0)
        assert seconds < 5.0
        assert code == 0, "".join(server.lines[-20:])
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        server.process.stdout.close()
