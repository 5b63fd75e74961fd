"""Validate a dataset folder against the data contracts (``schemas/contracts``).

Each suite in :data:`SUITES` pairs a contract (its checks and computed columns)
with the function that builds its checked table; adding a manifest (the shard
index, curation outputs) means one contract module and one entry here.
Results: a :class:`ValidationReport` (``passed`` is False when an error-level
check failed; warnings never block), ``<reports_dir>/validation.json`` (a summary
plus each suite's merged GX result) and, unless turned off, a Data Docs site in
``<reports_dir>/datadocs/``. With ``reuse`` (the ingest flow), a report left by a
validation of the same, unchanged dataset is returned instead of validating again
(``pipeline/validate_reuse.py`` says what "unchanged" covers).
"""

from __future__ import annotations

import datetime
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import great_expectations as gx
import pyarrow as pa
from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.data_context import AbstractDataContext

from pipeline.config import VALIDATION_REPORT
from pipeline.fsutil import atomic_write_bytes
from pipeline.validate.columns import (
    DatasetTables,
    crops_table,
    faces_table,
    load_dataset,
    run_table,
    shards_table,
    tracks_suite_table,
    videos_table,
)
from pipeline.validate.docs import SITE_NAME, finish_data_docs, open_run_context, remove_data_docs
from pipeline.validate.groups import groups_table, originals_table
from pipeline.validate.gx import DEFAULT_PARTITION_ROWS, SuiteRun, run_suite, validation_context
from pipeline.validate.merge import check_name, raised_exception
from pipeline.validate.reuse import reuse_key
from schemas.contracts import crops, faces, groups, originals, run, shards, tracks, videos
from schemas.contracts.base import Severity
from schemas.contracts.limits import ContractLimits

# The GX context's configuration ships inside the package (schemas/gx, package data), so validate
# works from any folder and from a non-editable install.
DEFAULT_GX_DIR = Path(__file__).resolve().parents[2] / "schemas" / "gx"
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class SuiteSpec:
    contract: ModuleType  # NAME, KEY, COMPUTED, checks(limits): see schemas/contracts
    table: Callable[[DatasetTables, ContractLimits], pa.Table]


SUITES = (
    SuiteSpec(videos, videos_table),
    SuiteSpec(faces, faces_table),
    SuiteSpec(crops, crops_table),
    SuiteSpec(tracks, tracks_suite_table),
    SuiteSpec(groups, groups_table),
    SuiteSpec(originals, originals_table),
    SuiteSpec(run, run_table),
)
# Suites run only when named (``only``): ``shards`` checks a packed release folder.
EXTRA_SUITES = (SuiteSpec(shards, shards_table),)


@dataclass(frozen=True)
class CheckOutcome:
    suite: str
    check: str
    severity: Severity
    success: bool
    statement: str
    detail: str


@dataclass(frozen=True)
class SuiteSummary:
    suite: str
    rows: int
    partitions: int
    wall_s: float


@dataclass(frozen=True)
class ValidationReport:
    dataset_dir: Path
    suites: tuple[SuiteSummary, ...]
    outcomes: tuple[CheckOutcome, ...]
    wall_s: float
    report_json: Path
    data_docs: Path | None
    reused: bool = False  # True: the stored report of the unchanged dataset, not a new validation

    @property
    def errors(self) -> tuple[CheckOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success and o.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[CheckOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success and o.severity is Severity.WARNING)

    @property
    def passed(self) -> bool:
        """True when no error-level check failed: the version may be released."""
        return not self.errors

    def failed_checks(self) -> set[str]:
        return {o.check for o in self.outcomes if not o.success}

    def raise_for_errors(self) -> None:
        """For a flow: stop here (ContractViolation, with the summary) unless the version passed."""
        if not self.passed:
            raise ContractViolation(self.summary())

    def summary(self) -> str:
        rows = ", ".join(f"{s.suite} {s.rows} rows/{s.partitions} part" for s in self.suites)
        lines = [
            f"{'PASSED' if self.passed else 'FAILED'}: {self.dataset_dir} ({rows}; {len(self.outcomes)} checks, {self.wall_s:.1f} s)"
            + (" -- reused: the dataset is unchanged since this report" if self.reused else ""),
            f"errors: {len(self.errors)}   warnings: {len(self.warnings)}",
        ]
        lines += [f"{o.severity.value.upper()} {o.check}: {o.statement} -- {o.detail}" for o in (*self.errors, *self.warnings)]
        lines.append(f"report: {self.report_json}")
        if self.data_docs is not None:
            lines.append(f"data docs: {self.data_docs}")
        return "\n".join(lines)


class ContractViolation(RuntimeError):
    """An error-level check failed: the dataset version must not be released."""


def build_suite(contract: ModuleType, limits: ContractLimits) -> gx.ExpectationSuite:
    checks = contract.checks(limits)
    names = [c.name for c in checks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"contract {contract.NAME}: check names used twice: {', '.join(duplicates)}")
    return gx.ExpectationSuite(name=contract.NAME, expectations=[c.expectation for c in checks])


def validate_dataset(
    dataset_dir: Path,
    limits: ContractLimits | None = None,
    *,
    reports_dir: Path,
    gx_dir: Path = DEFAULT_GX_DIR,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    build_docs: bool = True,
    only: Sequence[str] | None = None,
    reuse: bool = False,
) -> ValidationReport:
    """Run every suite (or ``only`` those named) over the dataset at ``dataset_dir``;
    with ``reuse``, return the stored report instead when the dataset and settings
    are unchanged since it was written."""
    started = time.perf_counter()
    if partition_rows < 1:
        raise ValueError(f"partition_rows must be >= 1, got {partition_rows}")
    limits = limits or ContractLimits()
    specs = _selected(only)
    _refuse_another_datasets(Path(dataset_dir), Path(reports_dir) / VALIDATION_REPORT)
    key = None
    if reuse and all(spec in SUITES for spec in specs):
        key = reuse_key(Path(dataset_dir), limits, partition_rows, [spec.contract.NAME for spec in specs], build_docs)
        if (stored := _stored_report(Path(dataset_dir), Path(reports_dir) / VALIDATION_REPORT, key, started)) is not None:
            return stored
    # A validation that fails or raises must not leave the last run's "passed" beside new data.
    (Path(reports_dir) / VALIDATION_REPORT).unlink(missing_ok=True)
    data = load_dataset(Path(dataset_dir))
    # Data Docs on demand: only then a file context in the reports folder, where the one-batch
    # Checkpoints store their results and update the site; otherwise in memory, writing nothing.
    if build_docs:
        context = open_run_context(gx_dir, reports_dir)
    else:
        remove_data_docs(reports_dir)
        context = validation_context()
    suites, runs, summaries = _run_suites(data, specs, limits, partition_rows, context, SITE_NAME if build_docs else None)
    docs = finish_data_docs(context, runs, suites) if build_docs else None
    outcomes = tuple(o for r in runs for o in _outcomes(r.suite, r.result))
    report_json = Path(reports_dir) / VALIDATION_REPORT
    report = ValidationReport(Path(dataset_dir), tuple(summaries), outcomes, time.perf_counter() - started, report_json, docs)
    _write_json(report, runs, limits, partition_rows, key)
    return report


def _refuse_another_datasets(dataset_dir: Path, report_json: Path) -> None:
    """A reports folder holds one dataset's report: never overwrite another dataset's. The owner is
    stored relative to the reports folder, so moving a project (or a dataset with its reports) keeps it."""
    try:
        owner = json.loads(report_json.read_text()).get("dataset_from_reports")
    except (OSError, ValueError, AttributeError):
        return
    mine = os.path.relpath(dataset_dir.resolve(), report_json.parent.resolve())
    if owner is not None and owner != mine:
        raise ValueError(
            f"{report_json} is the report of another dataset ({owner}, relative to it): give this dataset its own "
            f"reports folder (--reports-dir; unset, the reports go to <dataset>/reports)"
        )


def _stored_report(dataset_dir: Path, report_json: Path, key: str, started: float) -> ValidationReport | None:
    """The report at ``report_json`` if it was written for ``key`` (and its Data Docs are there)."""
    try:
        body = json.loads(report_json.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("reuse_key") != key or "outcomes" not in body:
        return None
    try:
        docs = report_json.parent.resolve() / body["data_docs"] if body.get("data_docs") else None
        suites = tuple(SuiteSummary(**summary) for summary in body["suite_summaries"])
        outcomes = tuple(
            CheckOutcome(o["suite"], o["check"], Severity(o["severity"]), o["success"], o["statement"], o["detail"])
            for o in body["outcomes"]
        )
    except (KeyError, TypeError, ValueError):  # a report of another shape: validate again
        return None
    if docs is not None and not docs.is_file():
        return None
    return ValidationReport(dataset_dir, suites, outcomes, time.perf_counter() - started, report_json, docs, reused=True)


def _run_suites(
    data: DatasetTables,
    specs: Sequence[SuiteSpec],
    limits: ContractLimits,
    partition_rows: int,
    context: AbstractDataContext,
    docs_site: str | None,
):
    """Each suite built, its checked table made and validated in ``context``: (suites, runs, summaries)."""
    run_id = {"run_name": f"validate-{data.dataset_dir.name}", "run_time": datetime.datetime.now(datetime.UTC).isoformat()}
    suites, runs, summaries = [], [], []
    for spec in specs:
        started = time.perf_counter()
        suite = build_suite(spec.contract, limits)
        table = spec.table(data, limits)
        suite_run = run_suite(context, suite, table, spec.contract.KEY, spec.contract.COMPUTED, partition_rows, run_id, docs_site)
        suites.append(suite)
        runs.append(suite_run)
        summaries.append(SuiteSummary(suite_run.suite, suite_run.rows, suite_run.partitions, time.perf_counter() - started))
    return suites, runs, summaries


def _selected(only: Sequence[str] | None) -> tuple[SuiteSpec, ...]:
    if only is None:
        return SUITES
    known = {s.contract.NAME: s for s in (*SUITES, *EXTRA_SUITES)}
    unknown = sorted(set(only) - set(known))
    if unknown:
        raise ValueError(f"unknown suites: {', '.join(unknown)}; choose from {', '.join(known)}")
    return tuple(s for s in known.values() if s.contract.NAME in only)


def _outcomes(suite: str, result: ExpectationSuiteValidationResult) -> list[CheckOutcome]:
    outcomes = []
    for item in result.results:
        meta = item.expectation_config.meta or {}
        severity = Severity.of(item.expectation_config.severity)
        outcomes.append(CheckOutcome(suite, check_name(item), severity, bool(item.success), meta.get("statement", ""), _detail(item)))
    return outcomes


def _detail(item: ExpectationValidationResult) -> str:
    raised = raised_exception(item)
    if raised:
        text = f"raised: {raised.strip().splitlines()[-1] if raised.strip() else raised}"
    else:
        result = item.result or {}
        if "unexpected_count" in result:
            sample = result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list") or []
            text = f"{result['unexpected_count']} of {result.get('element_count', '?')} rows unexpected"
            text += f"; e.g. {sample[:3]}" if sample else ""
        else:
            text = f"observed {result.get('observed_value')}"
    return text[:_DETAIL_CHARS]


def _write_json(report: ValidationReport, runs: Sequence[SuiteRun], limits: ContractLimits, partition_rows: int, key: str | None) -> None:
    reports_dir = report.report_json.parent
    body = {
        "dataset": str(report.dataset_dir),
        "dataset_from_reports": os.path.relpath(report.dataset_dir.resolve(), reports_dir.resolve()),
        "passed": report.passed,
        "errors": [_outcome_json(o) for o in report.errors],
        "warnings": [_outcome_json(o) for o in report.warnings],
        "wall_s": round(report.wall_s, 3),
        "limits": limits.as_dict(),
        "partition_rows": partition_rows,
        "great_expectations_version": gx.__version__,
        "data_docs": str(report.data_docs.relative_to(reports_dir.resolve())) if report.data_docs else None,
        "suites": {r.suite: {"rows": r.rows, "partitions": r.partitions, "result": r.result.to_json_dict()} for r in runs},
        # What a later validate_dataset(reuse=True) of the unchanged dataset returns (no key: not reusable).
        "reuse_key": key,
        "suite_summaries": [{"suite": s.suite, "rows": s.rows, "partitions": s.partitions, "wall_s": s.wall_s} for s in report.suites],
        "outcomes": [{**_outcome_json(o), "success": o.success} for o in report.outcomes],
    }
    atomic_write_bytes(report.report_json, json.dumps(body, indent=1, default=str).encode())


def _outcome_json(outcome: CheckOutcome) -> dict:
    return {
        "suite": outcome.suite,
        "check": outcome.check,
        "severity": outcome.severity.value,
        "statement": outcome.statement,
        "detail": outcome.detail,
    }
