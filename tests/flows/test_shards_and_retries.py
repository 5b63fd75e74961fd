"""The ingest flow's failure paths (issue 20): a failed shard, retry-failed on a grown corpus,
and the pool each Dask worker runs. Real Prefect test server, real media, real Dask."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from flows import ingest as flow_module
from flows.ingest import ShardsFailed, ingest, worker_cores
from pipeline.config import IngestOptions
from tests.conftest import fixture, insightface_image
from tests.flows.test_ingest import options


def small_corpus(root: Path) -> Path:
    root.mkdir()
    shutil.copy(fixture("two_people.jpg"), root / "a_two.jpg")
    shutil.copy(fixture("obama_and_biden.jpg"), root / "b_obama.jpg")
    shutil.copy(insightface_image("t1.jpg"), root / "c_t1.jpg")
    return root


def test_a_failed_shard_leaves_a_merged_dataset_a_report_naming_it_and_a_validation(prefect_server, tmp_path, monkeypatch):
    """The one stand-in: the shard of b_obama.jpg raises (a bug, a lost worker), through the
    library function the task calls; the flow under test is real. The other shards finish."""
    corpus, out = small_corpus(tmp_path / "corpus"), tmp_path / "out"
    real = flow_module.lib.run_shard

    def run_shard(opts, shard, inputs, cores=None, progress=None):
        if any(i.entry.uri == "b_obama.jpg" for i in inputs):
            raise RuntimeError("worker lost")
        return real(opts, shard, inputs, cores=cores, progress=progress)

    monkeypatch.setattr(flow_module.lib, "run_shard", run_shard)
    state = ingest(options(corpus, out, {"ingest": {"shard_videos": 1}, "validate": {"max_failure_ratio": 1.0}}), return_state=True)
    assert state.is_failed()
    with pytest.raises(ShardsFailed, match=r"1 of 3 shards did not finish: shard [\w-]+ \(1 videos\): FAILED: .*worker lost"):
        state.result()
    assert sorted(pl.read_parquet(out / "videos.parquet")["uri"]) == ["a_two.jpg", "c_t1.jpg"]  # the others merged
    markdown = (out / "ingest-report.md").read_text()
    assert "## Shards that did not finish" in markdown and "worker lost" in markdown
    assert "b_obama.jpg: not processed (its shard did not finish)" in markdown
    assert "| videos ok / failed | 2 / 1 |" in markdown and "## Validation" in markdown
    assert json.loads((out / "reports" / "validation.json").read_text())["suites"]  # validated
    assert not (out / "reports" / "datadocs").exists()  # Data Docs are built on demand only
    monkeypatch.undo()
    report = ingest(options(corpus, out, {"ingest": {"shard_videos": 1}}))  # the next run does the rest
    assert report.todo == 1 and report.failed == 0 and not report.shards_failed


def test_retry_failed_reports_new_videos_as_not_yet_processed(prefect_server, tmp_path, capsys):
    from flows.cli import main

    corpus, out = tmp_path / "corpus", (tmp_path / "out").resolve()
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    (corpus / "bad.mp4").write_text("not a video")  # a permanent failure: never retried
    assert main(["ingest", str(corpus), "--out", str(out), "--max-failure-ratio", "0.5"]) == 0
    shutil.copy(fixture("obama_and_biden.jpg"), corpus / "new1.jpg")
    shutil.copy(insightface_image("t1.jpg"), corpus / "new2.jpg")
    capsys.readouterr()
    assert main(["retry-failed", str(corpus), "--out", str(out), "--max-failure-ratio", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "retrying 0 videos" in printed
    assert "| videos ok / failed | 1 / 1 |" in printed  # bad.mp4 only: the new ones are not failures
    assert "| videos not yet processed | 2 " in printed and "- new1.jpg" in printed and "- new2.jpg" in printed
    assert "not processed (its shard did not finish)" not in printed


def test_each_dask_worker_sizes_its_pool_to_its_share_of_the_cores():
    """Two worker processes on one host: each gets half the cores, not all of them."""
    from distributed import Client, LocalCluster

    cores = len(os.sched_getaffinity(0))
    assert worker_cores() == cores  # outside a worker: the whole machine
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        shares = client.gather([client.submit(worker_cores, pure=False, workers=[w]) for w in client.scheduler_info()["workers"]])
    assert shares == [max(1, cores // 2)] * 2
    workers, threads = IngestOptions().pool_for(16, cores=shares[0])
    assert workers * threads <= max(1, cores // 2) or workers == threads == 1


def test_pipeline_logs_and_the_failures_table_reach_the_prefect_ui(prefect_server, tmp_path):
    """A video's failure, logged by the library in a shard's worker thread, is among the flow
    run's logs on the server; the failures table and the per-shard progress are artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "good.jpg")
    (corpus / "bad.mp4").write_text("not a video")
    state = ingest(options(corpus, tmp_path / "out", {"validate": {"max_failure_ratio": 1.0}}), return_state=True)
    assert state.is_completed()
    run_id = state.state_details.flow_run_id

    async def read() -> tuple[list, dict]:
        async with get_client() as client:
            for _ in range(40):  # logs are shipped in batches
                logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
                if any(log.name.startswith("pipeline") for log in logs):
                    break
                await asyncio.sleep(0.5)
            keys = ["ingest-failures", "ingest-progress"]
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)),
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
            )
            return logs, {a.key: a.data for a in artifacts}

    logs, artifacts = asyncio.run(read())
    pipeline_logs = [log.message for log in logs if log.name.startswith("pipeline")]
    assert any("bad.mp4: not a readable video or image" in m for m in pipeline_logs), [log.name for log in logs]
    table = json.loads(artifacts["ingest-failures"]) if isinstance(artifacts["ingest-failures"], str) else artifacts["ingest-failures"]
    assert [(row["uri"], row["kind"]) for row in table] == [("bad.mp4", "permanent")]
    assert float(artifacts["ingest-progress"]) == 100.0


def test_the_flow_itself_holds_the_dataset_lock(prefect_server, tmp_path):
    """A run started by a deployment (no CLI around it) is locked too: while another process holds
    the dataset's lock, the flow fails naming the holder and writes nothing."""
    from pipeline.runs.lock import DatasetLocked
    from tests.lockholder import held

    corpus, out = small_corpus(tmp_path / "corpus"), tmp_path / "out"
    with held(out) as holder:
        state = ingest(options(corpus, out, {}), return_state=True)
        assert state.is_failed()
        with pytest.raises(DatasetLocked, match=rf"another run holds this dataset's lock \(pid {holder.pid} on "):
            state.result()
        assert not (out / "videos.parquet").exists()
