"""The Great Expectations upgrade guard (issue 20): the pin, the one adapter module, and each
GX internal the adapter relies on, exercised for real. A GX release that breaks one fails
here, loudly, naming it; bump the pin only when this file passes."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import great_expectations as gx
import pyarrow as pa
import pytest
from packaging.requirements import Requirement

from pipeline.validate import gx as adapter
from pipeline.validate.docs import SITE_NAME, build_data_docs, finish_data_docs, open_run_context, validation_pages
from pipeline.validate.suites import DEFAULT_GX_DIR, _outcomes
from schemas.contracts.base import ExpectColumnArrowTypeToBe, Severity, error, warning

REPO = Path(__file__).resolve().parents[2]
# The public GX modules the rest of pipeline/ may import from; anything else goes through the adapter.
PUBLIC = {"great_expectations", "great_expectations.core", "great_expectations.expectations", "great_expectations.data_context"}


def gx_requirements() -> list[tuple[str, Requirement]]:
    """Every great-expectations requirement: the main dependencies and any extra naming it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": project["dependencies"], **project.get("optional-dependencies", {})}
    found = []
    for group, specs in groups.items():
        for spec in specs:
            requirement = Requirement(spec)
            if requirement.name.replace("_", "-").lower() == "great-expectations":
                found.append((group, requirement))
    return found


def test_gx_is_pinned_compatible_with_the_tested_minor():
    requirements = gx_requirements()
    assert requirements, "great-expectations is not a dependency any more: remove this guard with the adapter"
    installed = tuple(int(p) for p in gx.__version__.split(".")[:2])
    for group, requirement in requirements:
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "~=", f"{group}: pin great-expectations ~= the tested minor, not {requirement}"
        pinned = tuple(int(p) for p in specs[0].version.split(".")[:2])
        assert len(specs[0].version.split(".")) == 3, f"{group}: ~=X.Y.Z keeps the minor; ~=X.Y would allow any 1.x"
        assert pinned == installed, f"{group}: pinned {requirement}, installed {gx.__version__}: rerun this guard, then move the pin"
        assert requirement.specifier.contains(gx.__version__)


def test_only_the_adapter_imports_gx_internals():
    offenders = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        if path == REPO / "pipeline" / "validate" / "gx.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            modules += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.relative_to(REPO)}: {m}" for m in modules if m.startswith("great_expectations") and m not in PUBLIC]
    assert not offenders, "GX internals outside pipeline/validate/gx.py: " + "; ".join(offenders)


def guard_suite() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="guard")
    checks = [
        error("guard.type.x", "x is int64", ExpectColumnArrowTypeToBe(column="x", type_="int64")),
        error("guard.x_small", "x below 3", gx.expectations.ExpectColumnValuesToBeBetween(column="x", max_value=2)),
        warning("guard.x_tiny", "x below 2", gx.expectations.ExpectColumnValuesToBeBetween(column="x", max_value=1)),
        error("guard.key_unique", "keys are unique", gx.expectations.ExpectColumnValuesToBeUnique(column="key")),
    ]
    for check in checks:
        suite.add_expectation(check.expectation)
    return suite


def test_the_checkpoint_path_and_the_partitioned_path_agree():
    """Oracle: one batch through a ValidationDefinition + Checkpoint, and the same rows in
    partitions merged, give the same outcomes and counts."""
    context = adapter.validation_context()
    keys = [f"k{i % 7}" for i in range(20)]  # duplicate keys: uniqueness must fail in both
    table = pa.table({"key": keys, "x": pa.array([i % 4 for i in range(20)], pa.int64())})
    whole = adapter.run_suite(context, guard_suite(), table, "key", (), partition_rows=1000)
    split = adapter.run_suite(adapter.validation_context(), guard_suite(), table, "key", (), partition_rows=6)
    assert whole.partitions == 1 and split.partitions > 1
    assert context.checkpoints.get("guard") and context.validation_definitions.get("guard")  # GX's production path was taken

    def summary(run):
        out = {}
        for item in run.result.results:
            counts = {k: item.result.get(k) for k in ("element_count", "unexpected_count", "observed_value")}
            out[item.expectation_config.meta["check"]] = (item.success, str(item.expectation_config.severity), counts)
        return out

    assert summary(whole) == summary(split)
    assert not summary(whole)["guard.key_unique"][0] and summary(whole)["guard.x_small"][2]["unexpected_count"] == 5


@pytest.fixture(scope="module")
def tiny_run():
    """One suite over a 3-row table, through the adapter: an error check that fails on one row,
    a warning that fails, and the Arrow type check (GX's private _validate_pandas overridden)."""
    context = adapter.validation_context()
    suite = gx.ExpectationSuite(name="guard")
    checks = [
        error("guard.type.x", "x is int64", ExpectColumnArrowTypeToBe(column="x", type_="int64")),
        error("guard.x_small", "x below 3", gx.expectations.ExpectColumnValuesToBeBetween(column="x", max_value=2)),
        warning("guard.x_tiny", "x below 2", gx.expectations.ExpectColumnValuesToBeBetween(column="x", max_value=1)),
    ]
    for check in checks:
        suite.add_expectation(check.expectation)
    table = pa.table({"key": ["a", "b", "c"], "x": pa.array([1, 2, 3], pa.int64())})
    run_id = {"run_name": "guard", "run_time": "2026-01-01T00:00:00+00:00"}
    return suite, adapter.run_suite(context, suite, table, "key", (), partition_rows=2, run_id=run_id)


def test_a_suite_runs_partitioned_through_the_adapter_with_gx_severity(tiny_run):
    suite, run = tiny_run
    assert run.partitions == 2 and run.rows == 3
    by_check = {o.check: o for o in _outcomes("guard", run.result)}
    assert by_check["guard.type.x"].success, "GX no longer calls ExpectColumnTypeToBe._validate_pandas: fix the Arrow type check"
    assert not by_check["guard.x_small"].success and by_check["guard.x_small"].severity is Severity.ERROR
    assert not by_check["guard.x_tiny"].success and by_check["guard.x_tiny"].severity is Severity.WARNING  # GX's own field
    assert "severity" not in suite.expectations[0].meta  # one place for it: GX's severity
    for key in ("run_id", "active_batch_definition", "batch_spec"):
        assert key in run.result.meta, f"the forged batch metadata lost {key}"


def test_the_results_store_and_data_docs_still_take_a_merged_result(tiny_run, tmp_path):
    suite, run = tiny_run
    index = build_data_docs(DEFAULT_GX_DIR, tmp_path / "reports", [run], [suite])
    assert index.is_file(), "Data Docs did not build from the stored results"
    pages = validation_pages(index)
    assert set(pages) == {"guard"}, f"GX's site layout changed: {pages}"
    html = pages["guard"].read_text()
    assert "guard.x_small" in html and "guard.x_tiny" in html and str(pages["guard"]).count("guard-all-partitions") == 1


def test_docs_on_demand_come_from_the_checkpoints_own_data_docs_action(tmp_path):
    """With a site asked for, a one-batch suite's Checkpoint carries an UpdateDataDocsAction that
    stores the result and updates the site; a partitioned suite in the same run is stored
    by the adapter. Each suite has exactly one result page, and nothing is stored twice."""
    reports = tmp_path / "reports"
    context = open_run_context(DEFAULT_GX_DIR, reports)
    table = pa.table({"key": ["a", "b", "c"], "x": pa.array([1, 2, 3], pa.int64())})
    whole_suite, split_suite = guard_suite(), guard_suite()
    split_suite.name = "guard_split"
    run_id = {"run_name": "docs", "run_time": "2026-01-01T00:00:00+00:00"}
    whole = adapter.run_suite(context, whole_suite, table, "key", (), partition_rows=10, run_id=run_id, docs_site=SITE_NAME)
    actions = context.checkpoints.get("guard").actions
    assert [type(a).__name__ for a in actions] == ["UpdateDataDocsAction"] and actions[0].site_names == [SITE_NAME]
    assert whole.docs_updated and validation_pages(reports / "datadocs" / "index.html").keys() == {"guard"}  # built by the action
    split = adapter.run_suite(context, split_suite, table, "key", (), partition_rows=2, run_id=run_id, docs_site=SITE_NAME)
    assert split.partitions == 2 and not split.docs_updated
    index = finish_data_docs(context, [whole, split], [whole_suite, split_suite])
    assert index == (reports / "datadocs" / "index.html").resolve()
    pages = validation_pages(index)
    assert set(pages) == {"guard", "guard_split"}
    stored = sorted(p.relative_to(reports).parts[3] for p in (reports / "gx-context" / "uncommitted" / "validations").rglob("*.json"))
    assert stored == ["guard", "guard_split"], stored
    assert "guard.x_small" in pages["guard"].read_text() and "guard.x_small" in pages["guard_split"].read_text()


def test_without_docs_the_checkpoint_has_no_action_and_writes_nothing(tmp_path):
    context = adapter.validation_context()
    table = pa.table({"key": ["a", "b"], "x": pa.array([1, 2], pa.int64())})
    run = adapter.run_suite(context, guard_suite(), table, "key", (), partition_rows=10)
    assert context.checkpoints.get("guard").actions == [] and not run.docs_updated
