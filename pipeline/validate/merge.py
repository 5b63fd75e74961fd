"""Merge one suite's per-partition GX results into one result for the whole manifest.

Results are matched by check name (``meta["check"]``), not position: GX orders a
suite's results by its metric graph, not by the suite. Counts add up, samples
are concatenated (capped), and an aggregate's observed value combines the way
its statistic does (min of minima, max of maxima); anything else reports the
first failing partition's value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

SAMPLE_SIZE = 20
_COUNTS = ("element_count", "unexpected_count", "missing_count")
_SAMPLES = ("partial_unexpected_list", "partial_unexpected_index_list")
_COMBINE_OBSERVED = {"expect_column_min_to_be_between": min, "expect_column_max_to_be_between": max}


def check_name(result: ExpectationValidationResult) -> str:
    return (result.expectation_config.meta or {}).get("check", result.expectation_config.type)


def merge_suite_results(suite_name: str, parts: Sequence[ExpectationSuiteValidationResult], meta: dict) -> ExpectationSuiteValidationResult:
    by_check: dict[str, list[ExpectationValidationResult]] = {}
    for part in parts:
        for result in part.results:
            by_check.setdefault(check_name(result), []).append(result)
    results = [merge_results(group) for group in by_check.values()]
    successes = sum(bool(r.success) for r in results)
    statistics = {
        "evaluated_expectations": len(results),
        "successful_expectations": successes,
        "unsuccessful_expectations": len(results) - successes,
        "success_percent": 100.0 * successes / len(results) if results else 100.0,
    }
    return ExpectationSuiteValidationResult(
        success=successes == len(results), results=results, suite_name=suite_name, statistics=statistics, meta=meta
    )


def merge_results(parts: Sequence[ExpectationValidationResult]) -> ExpectationValidationResult:
    if len(parts) == 1:
        return parts[0]
    failing = [p for p in parts if not p.success]
    first = failing[0] if failing else parts[0]
    raised = next((p for p in parts if raised_exception(p)), None)
    return ExpectationValidationResult(
        success=not failing,
        expectation_config=first.expectation_config,
        result=_merged_result(parts, first),
        meta=first.meta,
        exception_info=(raised or first).exception_info,
    )


def raised_exception(result: ExpectationValidationResult) -> str | None:
    """The exception message when computing the expectation raised, else None.

    GX reports either one {raised_exception, exception_message} dict or one such
    dict per failed metric."""
    info = result.exception_info or {}
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message") or "exception")
    return None


def _merged_result(parts: Sequence[ExpectationValidationResult], first: ExpectationValidationResult) -> dict:
    results = [p.result or {} for p in parts]
    merged: dict = {}
    for key in _COUNTS:
        if any(key in r for r in results):
            merged[key] = sum(r.get(key, 0) for r in results)
    for key in _SAMPLES:
        if any(key in r for r in results):
            merged[key] = [item for r in results for item in r.get(key, [])][:SAMPLE_SIZE]
    if any("partial_unexpected_counts" in r for r in results):
        merged["partial_unexpected_counts"] = _merged_counts(results)
    if "element_count" in merged and "unexpected_count" in merged:
        merged.update(_percents(merged))
    observed = [r["observed_value"] for r in results if r.get("observed_value") is not None]
    if observed:
        combine = _COMBINE_OBSERVED.get(first.expectation_config.type)
        merged["observed_value"] = combine(observed) if combine else (first.result or {}).get("observed_value", observed[0])
    return merged


def _merged_counts(results: list[dict]) -> list[dict]:
    counts: Counter = Counter()
    values: dict[str, object] = {}
    for result in results:
        for entry in result.get("partial_unexpected_counts", []):
            if "value" not in entry:
                continue
            # Values may be unhashable (pairs come as tuples, lists as lists): key by repr.
            key = repr(entry["value"])
            values[key] = entry["value"]
            counts[key] += entry.get("count", 0)
    return [{"value": values[key], "count": count} for key, count in counts.most_common(SAMPLE_SIZE)]


def _percents(merged: dict) -> dict:
    elements, unexpected, missing = merged["element_count"], merged["unexpected_count"], merged.get("missing_count", 0)
    present = elements - missing
    percents = {
        "unexpected_percent_total": 100.0 * unexpected / elements if elements else 0.0,
        "unexpected_percent": 100.0 * unexpected / present if present else 0.0,
        "unexpected_percent_nonmissing": 100.0 * unexpected / present if present else 0.0,
    }
    if "missing_count" in merged:
        percents["missing_percent"] = 100.0 * missing / elements if elements else 0.0
    return percents
