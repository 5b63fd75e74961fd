"""SIGKILL at the worst moments: during the manifests' publish, during a release pack, and of
`facecorpus ingest` (its temporary Prefect server must not outlive it). The kill-and-resume
tests of extract stay in tests/runs/test_extract.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipeline.dataset import Dataset
from pipeline.errors import TornDatasetError
from pipeline.fsutil import COMMIT_FILE, check_published, read_commit
from pipeline.release.pack import pack_dataset
from tests.conftest import REPO, fixture

PUBLISHER = """
import sys
from pathlib import Path
from pipeline.fsutil import publish_tables
out = Path(sys.argv[1])
for generation in range(10**6):
    tag = str(generation).encode()
    publish_tables(out, {"videos.parquet": tag + b"v" * 3_000_000, "faces.parquet": tag + b"f" * 3_000_000})
"""


def _generation(path: Path) -> bytes:
    return path.read_bytes().rstrip(b"vf")


def test_sigkill_during_the_manifests_publish_never_passes_a_mixed_pair(tmp_path):
    """A publisher rewrites the pair in a loop and is killed at 12 moments: after each kill, either
    a reader refuses the folder (torn, named) or both tables are one generation."""
    states = {"refused": 0, "consistent": 0}
    for attempt in range(12):
        out = tmp_path / f"run{attempt}"
        proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(out)], cwd=REPO)
        deadline = time.monotonic() + 60
        while not (out / COMMIT_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.03 * attempt)  # 0 to 0.33 s into the publishing loop
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            check_published(out, ["videos.parquet", "faces.parquet"])
        except TornDatasetError as exc:
            assert "videos.parquet" in str(exc) or "faces.parquet" in str(exc)
            states["refused"] += 1
        else:
            assert _generation(out / "videos.parquet") == _generation(out / "faces.parquet")
            states["consistent"] += 1
    assert states["refused"] >= 1, states  # the kills did land mid-publish
    subprocess.run([sys.executable, "-c", PUBLISHER.replace("10**6", "1"), str(out)], cwd=REPO, check=True)
    check_published(out, ["videos.parquet", "faces.parquet"])  # the next publish completes the unit
    assert read_commit(out)["pending"] == []


PACKER = """
import sys
from pathlib import Path
from pipeline.release.pack import pack_dataset
pack_dataset(Path(sys.argv[1]), Path(sys.argv[2]), shard_mb=0.02)
"""


def test_sigkill_during_a_release_pack_is_refused_then_repacked_identically(extracted, tmp_path):
    dataset, _ = extracted
    clean = tmp_path / "clean"
    pack_dataset(dataset, clean, shard_mb=0.02)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", PACKER, str(dataset), str(killed)], cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (killed / COMMIT_FILE).is_file() and len(list((killed / "shards").glob("*.tar"))) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the pack finished before it could be killed"
    with pytest.raises((TornDatasetError, FileNotFoundError)):
        Dataset(killed)  # a half-packed release is never read as a release
    pack_dataset(dataset, killed, shard_mb=0.02)
    Dataset(killed)
    for path in sorted(clean.rglob("*")):
        if path.is_file():
            assert (killed / path.relative_to(clean)).read_bytes() == path.read_bytes(), path.name


def _server_of(proc: psutil.Process) -> psutil.Process | None:
    try:
        return next((c for c in proc.children(recursive=True) if "uvicorn" in " ".join(c.cmdline())), None)
    except psutil.Error:
        return None


def test_sigkill_of_ingest_leaves_no_prefect_server(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "portrait.jpg").write_bytes(fixture("obama_portrait.jpg").read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(tmp_path / "prefect")}
    argv = [sys.executable, "-m", "flows.cli", "ingest", str(corpus), "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ingest = psutil.Process(proc.pid)
    server = None
    deadline = time.monotonic() + 180
    while server is None and time.monotonic() < deadline and proc.poll() is None:
        server = _server_of(ingest)
        time.sleep(0.2)
    assert server is not None, "ingest never started its temporary Prefect server"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs([server], timeout=20)
    for process in alive:  # clean up before failing
        process.kill()
    assert not alive, f"the temporary Prefect server (pid {server.pid}) outlived the killed ingest"
