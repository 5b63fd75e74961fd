"""What `facecorpus ingest` prints (a line per video, the validation verdict, the report, the failures;
no third-party INFO chatter), and which Prefect server it uses (flows/server.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import fixture

REPO = Path(__file__).resolve().parents[2]


def test_ingest_prints_each_video_the_validation_and_the_failures(prefect_server, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    (corpus / "broken.mp4").write_text("not a video")
    out = tmp_path / "out"
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    argv = [str(Path(sys.executable).with_name("facecorpus")), "--log-level", "INFO", "ingest", str(corpus), "--out", str(out)]
    result = subprocess.run([*argv, "--max-failure-ratio", "0.6"], capture_output=True, text=True, env=env, cwd=tmp_path)
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed
    assert "two.jpg: ok, 2 faces" in printed and "broken.mp4: failed: broken.mp4: not a readable video" in printed
    assert f"validation: PASSED (0 errors, 0 warnings): {out / 'reports' / 'validation.json'}" in result.stdout
    assert f"report: {out / 'report' / 'index.html'}" in result.stdout
    assert f"Prefect server: {prefect_server} (PREFECT_API_URL)" in result.stderr
    assert "great_expectations" not in printed and "_get_default_value" not in printed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_running_server_is_found_by_url_else_a_temporary_one_is_announced(prefect_server):
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

    from flows.server import EPHEMERAL_STARTUP_TIMEOUT_S, prefect_api, running_server

    closed = f"http://127.0.0.1:{free_port()}/api"
    assert running_server(prefect_server) and not running_server(closed)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with prefect_api(prefect_server) as which:
            assert PREFECT_API_URL.value() == prefect_server and "found running" in which
        with prefect_api(closed) as which:
            assert not PREFECT_API_URL.value() and "a temporary one starts" in which and "prefect server start" in which
            assert PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value() >= EPHEMERAL_STARTUP_TIMEOUT_S
