"""`facecorpus serve` (issue 20): it refuses without a Prefect server that schedules, and
against a real `prefect server start` (scheduler on) a served deployment actually runs
within its interval, limited to one run at a time."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import fixture

REPO = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).with_name("facecorpus")


def no_server_env(home: Path) -> dict[str, str]:
    """The environment with no Prefect API configured: no PREFECT_API_URL, an empty profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_PROFILES_PATH": str(home / "profiles.toml")}


def test_serve_refuses_without_a_server_and_says_why(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "a.jpg")
    args = [str(EXE), "serve", str(corpus), "--out", str(tmp_path / "out"), "--cron", "0 * * * *"]
    result = subprocess.run(args, capture_output=True, text=True, env=no_server_env(tmp_path / "home"), cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert "PREFECT_API_URL is not set" in result.stderr and "runs no scheduler" in result.stderr
    assert "prefect server start" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing was served, nothing ran


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def real_server(tmp_path):
    """`prefect server start` with its scheduler, polled every 2 s (the default is 60 s)."""
    port = free_port()
    env = {
        **no_server_env(tmp_path / "prefect-home"),
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    prefect = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--scheduler", "--no-ui"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise TimeoutError("prefect server start did not answer in 120 s")
        yield {**env, "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_served_deployment_runs_on_its_schedule(real_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    corpus, out = tmp_path / "corpus", tmp_path / "out"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "a.jpg")
    args = [str(EXE), "serve", str(corpus), "--out", str(out), "--interval-s", "10", "--name", "every10", "--timezone", "Europe/Paris"]
    serve = subprocess.Popen(args, env=real_server, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    async def completed_runs(deadline_s: float):
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: real_server["PREFECT_API_URL"]}):
            async with get_client() as client:
                deadline = time.monotonic() + deadline_s
                while time.monotonic() < deadline:
                    try:
                        deployment = await client.read_deployment_by_name("ingest/every10")
                    except Exception:
                        await asyncio.sleep(1)
                        continue
                    runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["every10"])))
                    done = [r for r in runs if r.state and r.state.is_completed()]
                    if done:
                        return deployment, done
                    await asyncio.sleep(1)
                return None, []

    try:
        deployment, done = asyncio.run(completed_runs(150))
    finally:
        serve.terminate()
        output = serve.communicate(timeout=60)[0]
    assert done, f"no scheduled run completed: {output[-3000:]}"
    assert deployment.global_concurrency_limit.limit == 1  # runs of one dataset never overlap
    first = min(done, key=lambda r: r.start_time)
    assert (first.start_time - deployment.created).total_seconds() < 10 + 30  # its interval, plus polling and a busy machine
    assert [s.schedule.timezone for s in deployment.schedules] == ["Europe/Paris"]
    assert (out / "videos.parquet").is_file()  # the scheduled run really ingested the corpus
