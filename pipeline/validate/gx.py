"""The adapter to Great Expectations: every use of its internals is here (pinned
``~=`` the tested minor in pyproject.toml; ``tests/validate/test_gx_adapter.py``
fails loudly when an upgrade breaks one): the in-memory context's config
classes, the batch metadata Data Docs read (``_suite_meta``), the results store
and Data Docs writes (``store_and_build_docs``, for partitioned results; a one-batch
result is stored and its Data Docs updated by the Checkpoint's own
UpdateDataDocsAction). (The one other, the Arrow type
check's override of GX's private ``_validate_pandas``, is in
``schemas/contracts/base.py``, below this layer; the same test guards it.)

Run one suite over a checked table, partition by partition, with GX on pandas batches.

GX on one multi-million-row pandas frame is slow (its per-batch bookkeeping
fingerprints the whole frame, and several row conditions fall back to Python
per value). Rows are split into partitions of at most ``partition_rows`` by a
hash of the suite's key column, so every copy of a key lands in the same
partition and a per-partition uniqueness check is exact for the whole
manifest. Cross-row facts were computed over the whole manifest beforehand
(``pipeline/validate/columns.py``), so partitioning changes nothing else.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import great_expectations as gx
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import AbstractDataContext, FileDataContext
from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier, ValidationResultIdentifier

from pipeline.validate.merge import SAMPLE_SIZE, merge_suite_results
from schemas.contracts.limits import DEFAULT_PARTITION_ROWS

DATASOURCE = "facecorpus"


@dataclass(frozen=True)
class SuiteRun:
    suite: str
    rows: int
    partitions: int
    result: ExpectationSuiteValidationResult
    docs_updated: bool = False  # stored and its Data Docs site updated by the Checkpoint's action


def validation_context() -> AbstractDataContext:
    """An in-memory context: validating writes nothing (Data Docs use a file context,
    see pipeline/validate/docs.py). No progress bars on stderr, no analytics."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def partitions(table: pa.Table, key: str | None, partition_rows: int) -> Iterator[pa.Table]:
    """The table split into parts of about ``partition_rows``; always at least one part."""
    count = max(1, math.ceil(table.num_rows / partition_rows))
    if count == 1:
        yield table
        return
    if key is None or key not in table.column_names:
        # No key to co-locate: plain row chunks (the key's absence is itself reported).
        for start in range(0, table.num_rows, partition_rows):
            yield table.slice(start, partition_rows)
        return
    bucket = (pl.Series(table[key].combine_chunks()).hash(seed=0) % count).to_numpy()
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(count + 1))
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        if high > low:
            yield table.take(pa.array(order[low:high]))


def to_pandas(table: pa.Table, computed: tuple[str, ...]) -> pd.DataFrame:
    """Manifest columns Arrow-backed (the type checks read their Arrow types),
    computed columns numpy-backed (what GX's row conditions handle well)."""
    own = [name for name in table.column_names if name not in computed]
    checked = [name for name in table.column_names if name in computed]
    frames = []
    if own:
        frames.append(table.select(own).to_pandas(types_mapper=pd.ArrowDtype))
    if checked:
        frames.append(table.select(checked).to_pandas())
    if not frames:
        return pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    return pd.concat(frames, axis=1)[table.column_names]


def run_suite(
    context: AbstractDataContext,
    suite: gx.ExpectationSuite,
    table: pa.Table,
    key: str | None,
    computed: tuple[str, ...],
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    run_id: dict | None = None,
    docs_site: str | None = None,
) -> SuiteRun:
    """The suite's merged result over ``table``. With ``docs_site`` (a site of ``context``, a file
    context), a one-batch run's Checkpoint stores its result and updates that site itself."""
    batch_definition = _batch_definition(context, suite.name)
    result_format: dict = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    if key is not None and key in table.column_names:
        # Failing rows are named by their key (face_id, video_id, crop_path), not a row number.
        result_format["unexpected_index_column_names"] = [key]
    parts = []
    if table.num_rows <= partition_rows:  # one batch: GX's production path, a checkpoint
        frame = to_pandas(table, computed)
        parts.append(_checkpoint_validate(context, suite, batch_definition, frame, result_format, run_id, docs_site))
    else:  # large manifests: batch by batch, merged below
        for part in partitions(table, key, partition_rows):
            batch = batch_definition.get_batch(batch_parameters={"dataframe": to_pandas(part, computed)})
            parts.append(batch.validate(suite, result_format=result_format))
    merged = merge_suite_results(suite.name, parts, _suite_meta(suite.name, len(parts), table.num_rows, run_id))
    return SuiteRun(suite.name, table.num_rows, len(parts), merged, docs_updated=len(parts) == 1 and docs_site is not None)


def _checkpoint_validate(
    context: AbstractDataContext,
    suite: gx.ExpectationSuite,
    batch_definition,
    frame: pd.DataFrame,
    result_format: dict,
    run_id: dict | None,
    docs_site: str | None,
):
    """The suite over one whole-dataframe batch through a ValidationDefinition and a Checkpoint,
    GX's production path. Data Docs are on demand: the UpdateDataDocsAction is attached only
    when a site is asked for (``facecorpus validate --docs``); a flow run validates in the
    in-memory context with no action (building the site cost 2.5 s of the flow's 8 s)."""
    actions = [UpdateDataDocsAction(name="update_data_docs", site_names=[docs_site])] if docs_site else []
    stored = context.suites.add_or_update(
        gx.ExpectationSuite(name=suite.name, expectations=[e.configuration.to_domain_obj() for e in suite.expectations], meta=suite.meta)
    )
    definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=stored))
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(name=suite.name, validation_definitions=[definition], actions=actions, result_format=result_format)
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=_run_identifier(run_id))
    (suite_result,) = result.run_results.values()
    return suite_result


def _batch_definition(context: AbstractDataContext, asset_name: str):
    """The whole-dataframe batch definition of ``asset_name``, made on first use."""
    sources = context.data_sources.all()
    source = sources[DATASOURCE] if DATASOURCE in sources else context.data_sources.add_pandas(name=DATASOURCE)
    asset = source.get_asset(asset_name) if asset_name in source.get_asset_names() else source.add_dataframe_asset(name=asset_name)
    name = f"{asset_name}-partition"
    existing = {definition.name: definition for definition in asset.batch_definitions}
    return existing.get(name) or asset.add_batch_definition_whole_dataframe(name)


def _suite_meta(suite_name: str, partition_count: int, rows: int, run_id: dict | None) -> dict:
    # The keys GX's Data Docs read (run_id, active_batch_definition, batch_spec).
    return {
        "great_expectations_version": gx.__version__,
        "run_id": run_id,
        "active_batch_definition": {
            "datasource_name": DATASOURCE,
            "data_connector_name": "fluent",
            "data_asset_name": suite_name,
            "batch_identifiers": {},
        },
        "batch_spec": {"partitions": partition_count, "rows": rows},
    }


def file_context(root: Path) -> FileDataContext:
    """The file context whose configuration is ``root/great_expectations.yml``."""
    return gx.get_context(mode="file", context_root_dir=str(root))


def store_and_build_docs(context: FileDataContext, site: str, runs: Sequence[SuiteRun], suites: Sequence[gx.ExpectationSuite]) -> Path:
    """Store each suite and its merged (partitioned) result in ``context``, build the Data Docs
    ``site``, return its index.html. GX has no public call to store a result it did not
    compute, hence the results store and the identifiers. Runs whose Checkpoint already
    stored them and updated the site (``docs_updated``) are not stored twice."""
    merged = [(suite, run) for suite, run in zip(suites, runs, strict=True) if not run.docs_updated]
    if not merged and runs:  # every suite went through a Checkpoint whose action built the site
        (entry,) = context.get_docs_sites_urls(site_name=site)
        return _local_path(entry["site_url"])
    for suite, run in merged:
        context.suites.add(suite)
        suite_id = ExpectationSuiteIdentifier(name=suite.name)
        result_id = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id,
            run_id=_run_identifier(run.result.meta.get("run_id")),
            batch_identifier=f"{suite.name}-all-partitions",
        )
        context.validation_results_store.store_validation_results(
            suite_validation_result=run.result, suite_validation_result_identifier=result_id, expectation_suite_identifier=suite_id
        )
    urls = context.build_data_docs(site_names=[site])
    return _local_path(urls[site])


def _local_path(url: str) -> Path:
    return Path(url2pathname(urlparse(url).path)).resolve()


def _run_identifier(run_id: dict | None) -> RunIdentifier:
    run_id = run_id or {}
    run_time = datetime.datetime.fromisoformat(run_id["run_time"]) if run_id.get("run_time") else None
    return RunIdentifier(run_name=run_id.get("run_name"), run_time=run_time)
