"""The ``ingest`` Prefect flow: thin orchestration over ``pipeline.ingest``.

snapshot + plan -> one task per shard (never per video or frame: thousands of
task runs make a Prefect server unstable) -> merge -> validate (the Great
Expectations contracts) -> a markdown artifact with counts, failures,
throughput and the validation summary -> the failure-ratio gate, then the
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
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from pipeline import ingest as lib
from pipeline.batches import Shard
from pipeline.errors import TransientError
from pipeline.options import IngestSettings
from pipeline.snapshot import VideoInput

FLOW_NAME = "ingest"
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
def validate_task(out_dir: str, limits: dict, reports_dir: str, data_docs: bool) -> ValidationOutcome:
    """The Great Expectations suites over the merged manifests and crops; a run that
    changed nothing reuses the last report of the unchanged dataset."""
    from pipeline.validate import validate_dataset
    from schemas.contracts.limits import ContractLimits

    report = validate_dataset(Path(out_dir), ContractLimits.from_params(limits), reports_dir=Path(reports_dir), build_docs=data_docs, reuse=True)
    return ValidationOutcome(report.passed, report.summary())


def _transient_only(task_, task_run, state) -> bool:
    """Retry a shard only when it died of a transient error (I/O, a killed worker)."""
    try:
        state.result()
    except (TransientError, OSError, ConnectionError):
        return True
    except Exception:  # noqa: BLE001 - any other failure is a bug or bad input: no retry
        return False
    return False


@task(
    name="shard",
    task_run_name="shard-{shard.shard_id}",
    retries=TASK_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_condition_fn=_transient_only,
)
def process_shard(out_dir: str, shard: Shard, inputs: list[VideoInput], options: dict, settings: IngestSettings) -> lib.ShardReport:
    return lib.run_shard(Path(out_dir), shard, inputs, options, settings)


@flow(name=FLOW_NAME, task_runner=ThreadPoolTaskRunner(max_workers=1))
def ingest(corpus: str, out: str, options: dict | None = None, only: list[str] | None = None) -> lib.IngestReport:
    """Process what is new in ``corpus`` into the dataset at ``out``.

    ``options`` holds the extract and ingest parameters (params.yaml's sections,
    as plain JSON so deployments can store them); ``only`` limits the run to
    those video ids (``facecorpus retry-failed``).
    """
    started = time.perf_counter()
    options = options or {}
    settings = IngestSettings.from_options(options)
    out_dir = Path(out)
    plan = lib.prepare(Path(corpus), out_dir, options, settings, only)
    logger = get_run_logger()
    logger.info("%d videos, %d with work to do, in %d shards", len(plan.inputs), plan.todo, len(plan.shards))
    futures = [process_shard.submit(str(out_dir), s, plan.shard_inputs(s), options, settings) for s in plan.shards]
    reports = [f.result() for f in futures]
    report = lib.finish(out_dir, plan, options, settings, reports, started)
    reports_dir = options.get("reports_dir") or str(out_dir.parent / "reports")
    # One failure-ratio limit for both gates: the flow's and the contract's.
    limits = {**(options.get("validate") or {}), "max_failure_ratio": settings.max_failure_ratio}
    validation = validate_task(str(out_dir), limits, reports_dir, bool(options.get("data_docs", True)))
    markdown = report.markdown() + "\n## Validation\n\n```\n" + validation.summary + "\n```\n"
    create_markdown_artifact(key="ingest-report", markdown=markdown, description="facecorpus ingest report")
    if not report.gate_passed:
        raise FailureRatioExceeded(
            f"{report.failed} of {report.videos} videos failed ({report.failure_ratio:.1%} > {report.max_failure_ratio:.1%}): "
            + "; ".join(report.failures)
        )
    if not validation.passed:
        raise ContractViolation(validation.summary)
    return report


def task_runner(runner: str, dask_address: str | None = None, dask_workers: int | None = None):
    """The task runner for ``--runner``: local threads, or Dask (an existing cluster or a LocalCluster)."""
    if runner == "local":
        return ThreadPoolTaskRunner(max_workers=1)
    if runner != "dask":
        raise ValueError(f"unknown runner {runner!r}; choose local or dask")
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    workers = dask_workers or max(1, (os.cpu_count() or 1) // 2)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None})
