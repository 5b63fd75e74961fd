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

# No ``from __future__ import annotations`` here: the flow's parameter annotation must be the
# IngestParameters class itself. As a string, a deployment's run (the flow loaded from its file
# entrypoint) cannot resolve it: "IngestModel is not fully defined" (tests/flows/test_serve.py).
import os
import time
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, ConfigDict, Field, create_model

from pipeline.config import SECTIONS, IngestOptions, Options
from pipeline.corpus.plan import Shard
from pipeline.corpus.snapshot import VideoInput
from pipeline.errors import TransientError
from pipeline.fsutil import atomic_write_bytes
from pipeline.runs import ingest as lib
from pipeline.runs.lock import folders_lock

FLOW_NAME = "ingest"
# dashboard_address=None alone still starts the scheduler's HTTP server on :8787 (distributed's
# start_http_server falls back to its default port): no dashboard, and a loopback port the OS picks.
NO_DASHBOARD = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
TASK_RETRIES = 2


class FailureRatioExceeded(RuntimeError):
    """More videos failed than ``max_failure_ratio`` allows: the run is marked Failed."""


class ContractViolation(RuntimeError):
    """An error-level data contract failed on the merged dataset: the run is marked Failed."""


class ShardsFailed(RuntimeError):
    """A shard task did not finish (after its retries): what finished is merged, reported and
    validated, then the run is marked Failed naming the shards."""


@dataclass(frozen=True)
class ValidationOutcome:
    passed: bool
    summary: str


@task(name="validate", cache_policy=NO_CACHE)
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
        build_docs=False,  # on demand (`facecorpus validate --docs`): 2.5 s of the flow's fixed 8 s (bench/validation_cost.py)
        reuse=True,
    )
    return ValidationOutcome(report.passed, report.summary())


@task(name="report", cache_policy=NO_CACHE)
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
    # Whether a shard has work is decided by the stages' completion markers; Prefect's
    # default policy would also hash the whole Options blob and every VideoInput per call.
    cache_policy=NO_CACHE,
)
def process_shard(options: Options, shard: Shard, inputs: list[VideoInput]) -> lib.ShardReport:
    # One line per video in the task's log (the console and the Prefect UI), as `extract` shows progress.
    return lib.run_shard(options, shard, inputs, cores=worker_cores(), progress=get_run_logger().info)


def worker_cores() -> int:
    """The cores this process may use: the machine's, or in a Dask worker the machine's
    split among the Dask workers on the same host (8 workers on 16 cores: 2 each, not 16)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not inside a Dask worker
        return cores
    host = worker.address.rsplit(":", 1)[0]
    info = worker.client.scheduler_info(n_workers=-1)["workers"]
    on_host = sum(1 for address in info if address.rsplit(":", 1)[0] == host) or 1
    return max(1, cores // on_host)


def wait_for_shards(shards: tuple[Shard, ...], futures: list[PrefectFuture]) -> tuple[list[lib.ShardReport], tuple[str, ...]]:
    """Every shard's report once all have ended, and "shard <id>: <state>: <reason>" for each
    that did not finish (one failed shard must not stop the others' work being merged,
    reported and validated). Each future's state is read after the wait, never its result
    first: that would raise on the first failed shard."""
    progress = create_progress_artifact(0.0, key="ingest-progress", description="shards ended, %") if futures else None
    for ended, _ in enumerate(as_completed(futures), start=1):  # as each shard ends, whatever its state
        update_progress_artifact(progress, 100.0 * ended / len(futures))
    reports, failed = [], []
    for shard, future in zip(shards, futures, strict=True):
        future.wait()  # as_completed waits on the executor; this sets the task's final state (else it may read PENDING)
        state = future.state
        if state.is_completed():
            reports.append(future.result())
        else:
            failed.append(f"shard {shard.shard_id} ({len(shard.video_ids)} videos): {state.type.value}: {state.message}")
    return reports, tuple(failed)


def _section_model(kind: type) -> type[BaseModel]:
    """A pydantic model of one params.yaml section, its fields' help as descriptions."""
    hints = typing.get_type_hints(kind)
    defined = {f.name: (hints[f.name], Field(f.default, description=f.metadata.get("help"))) for f in fields(kind)}
    return create_model(kind.__name__, __config__=ConfigDict(extra="forbid"), __doc__=kind.__doc__, **defined)


# The flow's parameter, typed (the Prefect UI shows a form, one group per params.yaml section);
# made from pipeline/config/'s sections, so each option is still defined once.
# ("validate" is also a BaseModel method: the field is ``validate_``, named "validate" in JSON.)
IngestParameters = create_model(
    "IngestParameters",
    __config__=ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True),
    __doc__="params.yaml's sections (unset keys: their defaults)",
    **{
        (f"{name}_" if hasattr(BaseModel, name) else name): (model, Field(default_factory=model, alias=name))
        for name, model in ((n, _section_model(k)) for n, k in SECTIONS.items())
    },
)


@flow(name=FLOW_NAME, task_runner=ThreadPoolTaskRunner(max_workers=1))
def ingest(options: IngestParameters, only: list[str] | None = None) -> lib.IngestReport:  # type: ignore[valid-type]
    """Process what is new in the corpus into the dataset (``extract.corpus``, ``extract.out``).

    ``options`` holds params.yaml's sections (a dict such as
    :meth:`pipeline.config.Options.to_json` is validated into it by Prefect), parsed once here; ``only``
    limits the run to those video ids (``facecorpus retry-failed``). The
    failure-ratio gate and the contract use one limit, ``validate.max_failure_ratio``.
    """
    started = time.perf_counter()
    parsed = Options.from_json(options.model_dump(by_alias=True) if isinstance(options, BaseModel) else options)
    parsed.extract.check()
    parsed.curate.check()
    parsed.ingest.check()
    # The flow holds the dataset's lock itself, so runs started by `serve` or a work pool are
    # locked as the CLI's are: one writer per dataset folder (forget and gc wait or refuse).
    with folders_lock([parsed.extract.detect_dir, parsed.extract.out_dir]):
        return _run(parsed, only, started)


def _run(parsed: Options, only: list[str] | None, started: float) -> lib.IngestReport:
    plan = lib.prepare(parsed, only)
    logger = get_run_logger()
    logger.info("%d videos, %d with work to do, in %d shards", len(plan.inputs), plan.todo, len(plan.shards))
    futures = [process_shard.submit(parsed, s, plan.shard_inputs(s)) for s in plan.shards]
    reports, shards_failed = wait_for_shards(plan.shards, futures)
    report = lib.finish(parsed, plan, reports, started, shards_failed)
    validation = validate_task(parsed)
    markdown = report.markdown() + "\n## Validation\n\n```\n" + validation.summary + "\n```\n"
    index = dataset_report_task(parsed, markdown)
    markdown += f"\n## Dataset report\n\n[{index}]({index.as_uri()}) (offline HTML: contact sheets, plots, a page per video)\n"
    create_markdown_artifact(key="ingest-report", markdown=markdown, description="facecorpus ingest report")
    create_link_artifact(key="dataset-report", link=index.as_uri(), link_text=str(index), description="the dataset's HTML report")
    if report.failed_videos:
        rows = [{"uri": f.uri, "error": f.error, "kind": f.error_kind} for f in report.failed_videos]
        create_table_artifact(rows, key="ingest-failures", description="videos that failed or were not finished in this run")
    if shards_failed:
        raise ShardsFailed(f"{len(shards_failed)} of {len(futures)} shards did not finish: " + "; ".join(shards_failed))
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
