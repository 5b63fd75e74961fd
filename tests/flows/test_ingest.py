"""The ingest flow on a real Prefect test server, a real Dask LocalCluster and real media."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from flows.ingest import FailureRatioExceeded, ingest, task_runner
from pipeline.config import Options
from tests.conftest import fixture, run_ffmpeg, tree_state

REPO = Path(__file__).resolve().parents[2]
QUICK = {"extract": {"sample": "fps:1"}, "ingest": {"shard_videos": 2}}


def options(corpus: Path, out: Path, overrides: dict | None = None) -> dict:
    """The flow's parameter: the defaults, the corpus and dataset, and ``{section: {key: value}}``."""
    base = Options().merged({"extract": {"corpus": str(corpus), "out": str(out)}})
    for section, values in (overrides or {}).items():
        base = base.merged({section: values})
    return base.to_json()


def with_quick(**sections: dict) -> dict:
    return {name: {**QUICK.get(name, {}), **sections.get(name, {})} for name in {*QUICK, *sections}}


def manifests(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("videos.parquet", "faces.parquet")}


@pytest.fixture(scope="module")
def first_run(prefect_server, flow_corpus, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copytree(flow_corpus, corpus, dirs_exist_ok=True)
    out = tmp_path_factory.mktemp("dataset")
    report = ingest(options(corpus, out, QUICK))
    FIRST_MANIFESTS.update(manifests(out))  # later tests grow this dataset (its identity and split registries keep history)
    return corpus, out, report


# The first run's manifests as written, for runs that must match a fresh dataset (the Dask runner).
FIRST_MANIFESTS: dict[str, bytes] = {}


def test_first_run_processes_everything_in_shards(first_run):
    corpus, out, report = first_run
    assert report.videos == 6 and report.todo == 6 and report.processed == 6 and report.detected == 6
    assert report.shards == 3  # 6 videos, 2 per shard
    assert report.failed == 0 and report.gate_passed
    faces = pl.read_parquet(out / "faces.parquet")
    assert faces.height == report.faces >= 2 + 3 + 6 + 20
    assert len(list((out / "batches").glob("*.json"))) == 1 and len(list((out / "batches").glob("*/*.done"))) == 3
    # The dataset report and the run's markdown outlive the temporary Prefect server (issue 16).
    assert (out / "report" / "index.html").is_file() and list((out / "report" / "video").glob("*.html"))
    markdown = (out / "ingest-report.md").read_text()
    assert "| videos ok / failed |" in markdown and "## Validation" in markdown


def test_second_run_processes_nothing_and_writes_nothing(first_run):
    corpus, out, _ = first_run
    before_bytes, before_state = manifests(out), tree_state(out)
    report = ingest(options(corpus, out, QUICK))
    assert report.todo == 0 and report.processed == 0 and report.shards == 0
    assert manifests(out) == before_bytes
    assert tree_state(out) == before_state


def test_a_new_video_is_the_only_one_processed(first_run, tmp_path):
    corpus, out, first = first_run
    run_ffmpeg(
        "-ss", "4", "-t", "2", "-i", str(fixture("hamilton.mp4")), "-an", "-c:v", "libx264", "-preset", "ultrafast", str(corpus / "new.mp4")
    )
    report = ingest(options(corpus, out, QUICK))
    assert report.todo == 1 and report.processed == 1 and report.detected == 1 and report.shards == 1
    videos = pl.read_parquet(out / "videos.parquet")
    assert "new.mp4" in videos["uri"].to_list() and videos.height == first.videos + 1
    (corpus / "new.mp4").unlink()
    report = ingest(options(corpus, out, QUICK))  # a removed video leaves the manifests
    assert report.processed == 0 and "new.mp4" not in pl.read_parquet(out / "videos.parquet")["uri"].to_list()


def test_changing_the_preset_reruns_alignment_only(first_run, tmp_path):
    corpus, out, _ = first_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    report = ingest(options(corpus, copy, with_quick(extract={"preset": "ffhq", "size": 256})))
    assert report.processed == 6 and report.aligned == 6 and report.detected == 0  # the detector never ran
    base, new = pl.read_parquet(out / "faces.parquet"), pl.read_parquet(copy / "faces.parquet")
    assert new["face_id"].to_list() == base["face_id"].to_list()
    assert new["preset"].unique().to_list() == ["ffhq:256:margin=0"]
    assert not set(new["crop_sha256"]) & set(base["crop_sha256"])


def test_dask_runner_gives_the_same_manifests(first_run, tmp_path):
    corpus, out, _ = first_run
    dask_out = tmp_path / "dask"
    params = options(corpus, dask_out, with_quick(ingest={"runner": "dask", "dask_workers": 2}))
    runner = task_runner(Options.from_json(params).ingest)
    report = ingest.with_options(task_runner=runner)(params)
    assert report.processed == 6 and report.shards == 3
    # each of the two worker processes sized its pool to half the cores, not all (issue 20)
    assert report.pool_cores == max(1, len(os.sched_getaffinity(0)) // 2)
    local, remote = pl.read_parquet(io.BytesIO(FIRST_MANIFESTS["faces.parquet"])), pl.read_parquet(dask_out / "faces.parquet")
    assert remote.select("face_id", "crop_sha256").rows() == local.select("face_id", "crop_sha256").rows()
    assert manifests(dask_out) == FIRST_MANIFESTS  # the same corpus into a fresh dataset, byte for byte


def test_a_hung_or_slow_input_is_killed_at_the_timeout_and_the_flow_completes(prefect_server, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "good.jpg")
    os.mkfifo(corpus / "stream.mp4")  # a FIFO named like a video: opening it would block forever
    # 1,800 frames of 1080p in one GOP (no keyframe to seek to): reaching the samples means
    # decoding them all, about 8 s here, far past the 1.5 s timeout (which a still decodes
    # well within, even on a busy machine); every:100 keeps detection cheap
    run_ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1920x1080:rate=30",
        "-t",
        "60",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "1000",
        str(corpus / "long.mp4"),
    )
    started = time.monotonic()
    report = ingest(
        options(
            corpus,
            tmp_path / "out",
            {"extract": {"sample": "every:100"}, "ingest": {"timeout_s": 1.5}, "validate": {"max_failure_ratio": 1.0}},
        )
    )
    assert time.monotonic() - started < 60
    videos = {r["uri"]: r for r in pl.read_parquet(tmp_path / "out" / "videos.parquet").iter_rows(named=True)}
    assert videos["good.jpg"]["status"] == "ok"
    assert (videos["stream.mp4"]["status"], videos["stream.mp4"]["error"]) == ("failed", "stream.mp4: not a regular file")
    # The deadline covers every step on the input (probe, index, decode): which one it caught depends on the load.
    assert re.fullmatch(r"long.mp4: still (probing|indexing|decoding) after the 1.5 s timeout.*", videos["long.mp4"]["error"])
    assert videos["long.mp4"]["error_kind"] == "timeout"
    assert report.failed == 2 and report.gate_passed

    # retry-failed reruns only the video that timed out (not the FIFO: that failure is permanent)
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    exe = Path(sys.executable).with_name("facecorpus")
    args = [str(exe), "retry-failed", str(corpus), "--out", str(tmp_path / "out"), "--sample", "every:100", "--max-failure-ratio", "1"]
    result = subprocess.run([*args, "--timeout-s", "600"], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "retrying 1 videos" in result.stdout and "| videos processed | 1 " in result.stdout
    videos = {r["uri"]: r for r in pl.read_parquet(tmp_path / "out" / "videos.parquet").iter_rows(named=True)}
    assert videos["long.mp4"]["status"] == "ok" and videos["long.mp4"]["frames_sampled"] == 18
    assert videos["stream.mp4"]["status"] == "failed"


def test_too_many_failures_fail_the_flow_and_the_artifact_lists_them(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "good.jpg")
    (corpus / "bad.mp4").write_text("not a video")
    state = ingest(options(corpus, tmp_path / "out", {"validate": {"max_failure_ratio": 0.25}}), return_state=True)
    assert state.is_failed()
    with pytest.raises(FailureRatioExceeded, match=r"1 of 2 videos failed \(50.0% > 25.0%\)"):
        state.result()

    async def artifact_markdown() -> str:
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-report"])),
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
            )
            return artifacts[0].data

    markdown = asyncio.run(artifact_markdown())
    assert "| videos ok / failed | 1 / 1 |" in markdown and "0.500 (max 0.25: FAILED)" in markdown
    assert "bad.mp4: not a readable video or image" in markdown
    assert f"[{tmp_path / 'out' / 'report' / 'index.html'}]" in markdown  # the artifact links to the dataset report


def test_serve_creates_a_cron_deployment(prefect_server, flow_corpus, tmp_path):
    from prefect.client.orchestration import get_client

    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    exe = Path(sys.executable).with_name("facecorpus")
    proc = subprocess.Popen(
        [str(exe), "serve", str(flow_corpus), "--out", str(tmp_path / "out"), "--cron", "15 3 * * *", "--name", "nightly"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def read_deployment():
        async with get_client() as client:
            for _ in range(120):
                try:
                    return await client.read_deployment_by_name("ingest/nightly")
                except Exception:
                    await asyncio.sleep(0.5)
            raise TimeoutError("deployment ingest/nightly never appeared")

    try:
        deployment = asyncio.run(read_deployment())
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert [s.schedule.cron for s in deployment.schedules] == ["15 3 * * *"], output
    assert deployment.parameters["options"]["extract"]["corpus"] == str(flow_corpus.resolve())
    assert deployment.parameters["options"]["extract"]["sample"] == "fps:1"


def test_pipeline_never_imports_prefect():
    code = (
        "import pkgutil, importlib, sys, pipeline\n"
        "for m in pkgutil.walk_packages(pipeline.__path__, 'pipeline.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


def test_ingest_command_prints_where_the_report_is(prefect_server, tmp_path, capsys):
    """What `make demo` shows at its end: the dataset report's path (issue 16)."""
    from flows.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    out = (tmp_path / "out").resolve()
    assert main(["ingest", str(corpus), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report' / 'index.html'}" in printed and (out / "report" / "index.html").is_file()
    assert f"validation, in plain words: {out / 'report' / 'validation.html'}" in printed
