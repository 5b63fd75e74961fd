"""The ``ingest`` Prefect flow: thin orchestration over ``pipeline.runs.ingest``.

snapshot + plan -> one task per shard (never per video or frame: thousands of
task runs make a Prefect server unstable; each video goes through the video
pass and the per-video curation stages) -> curate and merge -> validate (the Great
Expectations contracts) -> a markdown artifact with counts, failures,
throughput and the validation summary (also written to ``<dataset>/ingest-report.md``)
and a link artifact to the dataset's HTML report (``<dataset>/report/index.html``) -> the failure-ratio gate, then the
contracts' gate (an error-level failure ends the run Failed).
Cross-run skipping comes from the stages' completion markers, not from
Prefect's cache (whose default key includes the flow run id).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from pipeline.config import IngestOptions, Options
from pipeline.corpus.plan import Shard
from pipeline.corpus.snapshot import VideoInput
from pipeline.errors import TransientError
from pipeline.fsutil import atomic_write_bytes
from pipeline.runs import ingest as lib

FLOW_NAME = "ingest"
# dashboard_address=None alone still starts the scheduler's HTTP server on :8787 (distributed's
# start_http_server falls back to its default port): no dashboard, and a loopback port the OS picks.
NO_DASHBOARD = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
TASK_RETRIES = 2


class FailureRatioExceeded(RuntimeError):
    """More videos failed than ``max_failure_ratio`` allows: the run is marked Failed."""


class ContractViolation(RuntimeError):
    """An error-level data contract failed on the merged dataset: the run is marked Failed."""


@dataclass(frozen=True)
class ValidationOutcome:
    passed: bool
    summary: str


@task(name="validate")
def validate_task(options: Options) -> ValidationOutcome:
    """The Great Expectations suites over the merged manifests and crops; a run that
    changed nothing reuses the last report of the unchanged dataset."""
    from pipeline.validate.suites import validate_dataset

    dataset, validate = options.extract.out_dir, options.validate
    report = validate_dataset(
        dataset,
        validate.limits(),
        reports_dir=validate.reports_path(dataset),
        partition_rows=validate.partition_rows,
        build_docs=validate.docs,
        reuse=True,
    )
    return ValidationOutcome(report.passed, report.summary())


@task(name="report")
def dataset_report_task(options: Options, markdown: str) -> Path:
    """The run's markdown next to the dataset (it outlives a temporary Prefect server), then the
    dataset's offline HTML report (``pipeline/report``), which links to it; returns its index.
    Both are left as they are when the dataset and its validation are unchanged (rerun idempotent)."""
    from pipeline.cli.report import report_request
    from pipeline.report.build import INDEX, INGEST_REPORT, build_report, is_current

    dataset = options.extract.out_dir
    request = report_request(options, dataset)
    if is_current(request):  # nothing changed since the last report: a rerun writes nothing
        return request.out / INDEX
    atomic_write_bytes(dataset / INGEST_REPORT, markdown.encode())
    return build_report(request).index


def _transient_only(task_, task_run, state) -> bool:
    """Retry a shard only when it died of a transient error (I/O, a killed worker)."""
    try:
        state.result()
    except (TransientError, OSError, ConnectionError):
        return True
    except Exception:
        return False
    return False


@task(
    name="shard",
    task_run_name="shard-{shard.shard_id}",
    retries=TASK_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_condition_fn=_transient_only,
)
def process_shard(options: Options, shard: Shard, inputs: list[VideoInput]) -> lib.ShardReport:
    return lib.run_shard(options, shard, inputs)


@flow(name=FLOW_NAME, task_runner=ThreadPoolTaskRunner(max_workers=1))
def ingest(options: dict, only: list[str] | None = None) -> lib.IngestReport:
    """Process what is new in the corpus into the dataset (``extract.corpus``, ``extract.out``).

    ``options`` is :meth:`pipeline.config.Options.to_json` (params.yaml's sections,
    as plain JSON so deployments can store them), parsed once here; ``only``
    limits the run to those video ids (``facecorpus retry-failed``). The
    failure-ratio gate and the contract use one limit, ``validate.max_failure_ratio``.
    """
    started = time.perf_counter()
    parsed = Options.from_json(options)
    parsed.extract.check()
    parsed.curate.check()
    parsed.ingest.check()
    plan = lib.prepare(parsed, only)
    logger = get_run_logger()
    logger.info("%d videos, %d with work to do, in %d shards", len(plan.inputs), plan.todo, len(plan.shards))
    futures = [process_shard.submit(parsed, s, plan.shard_inputs(s)) for s in plan.shards]
    reports = [f.result() for f in futures]
    report = lib.finish(parsed, plan, reports, started)
    validation = validate_task(parsed)
    markdown = report.markdown() + "\n## Validation\n\n```\n" + validation.summary + "\n```\n"
    index = dataset_report_task(parsed, markdown)
    markdown += f"\n## Dataset report\n\n[{index}]({index.as_uri()}) (offline HTML: contact sheets, plots, a page per video)\n"
    create_markdown_artifact(key="ingest-report", markdown=markdown, description="facecorpus ingest report")
    create_link_artifact(key="dataset-report", link=index.as_uri(), link_text=str(index), description="the dataset's HTML report")
    if not report.gate_passed:
        raise FailureRatioExceeded(
            f"{report.failed} of {report.videos} videos failed ({report.failure_ratio:.1%} > {report.max_failure_ratio:.1%}): "
            + "; ".join(report.failures)
        )
    if not validation.passed:
        raise ContractViolation(validation.summary)
    return report


def task_runner(ingest: IngestOptions):
    """The task runner for ``ingest.runner``: local threads, or Dask (an existing cluster or a LocalCluster)."""
    if ingest.runner == "local":
        return ThreadPoolTaskRunner(max_workers=1)
    if ingest.runner != "dask":
        raise ValueError(f"unknown runner {ingest.runner!r}; choose local or dask")
    from prefect_dask import DaskTaskRunner

    if ingest.dask_address:
        return DaskTaskRunner(address=ingest.dask_address)
    workers = ingest.dask_workers or max(1, (os.cpu_count() or 1) // 2)
    cluster = {"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    cluster["scheduler_kwargs"] = NO_DASHBOARD
    return DaskTaskRunner(cluster_kwargs=cluster)
