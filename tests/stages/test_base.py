"""The stage contract: counts, drops with reasons, retries, error kinds, setup once, fingerprints."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from pipeline.errors import MediaError, TransientError, VideoTimeout
from pipeline.records import NOT_OUTPUT, ErrorKind
from pipeline.stages.base import Dropped, Stage, StageCounts, sum_counts


# The example of ARCHITECTURE.md ("How to add a stage"): a filter in ten lines.
@dataclass(frozen=True)
class MinSizeParams:
    min_px: float = 20.0


class MinSize(Stage[float, float]):
    name, version, Params, inputs = "min_size", 1, MinSizeParams, ("faces",)

    def process(self, size_px: float) -> float | Dropped[float]:
        return self.drop(size_px, "too_small") if size_px < self.params.min_px else size_px


@dataclass(frozen=True)
class FlakyParams:
    failures: int = 0
    threads: int = field(default=1, metadata=NOT_OUTPUT)


class Flaky(Stage[str, list[str]]):
    """Fails its first ``failures`` calls per item with a transient error; 'bad' is a bad input."""

    name, version, Params, inputs = "flaky", 3, FlakyParams, ("corpus",)

    def __init__(self, params=None, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.calls: dict[str, int] = {}
        self.setups = 0

    def setup(self) -> None:
        self.setups += 1

    def process(self, item: str) -> list[str]:
        self.calls[item] = self.calls.get(item, 0) + 1
        if item == "bad":
            raise MediaError(f"{item}: broken")
        if item == "slow":
            raise VideoTimeout(f"{item}: too slow")
        if self.calls[item] <= self.params.failures:
            raise TransientError(f"{item}: try again")
        return [item, item]

    def failed(self, item: str, error: Exception, kind: ErrorKind) -> list[str]:
        return [f"{kind.value}: {error}"]


def test_a_filter_drops_with_its_reason_and_counts_both():
    stage = MinSize(MinSizeParams(min_px=30))
    results = list(stage.run([10.0, 40.0, 25.0, 31.0]))
    assert [r for r in results if not isinstance(r, Dropped)] == [40.0, 31.0]
    assert [r.reason for r in results if isinstance(r, Dropped)] == ["too_small", "too_small"]
    assert stage.counts.processed == 2 and stage.counts.records == 2 and stage.counts.dropped == {"too_small": 2}


def test_transient_errors_are_retried_then_recorded_and_other_kinds_are_not():
    stage = Flaky(FlakyParams(failures=2), retries=2, backoff_s=0.001)
    assert stage.run_one("a") == ["a", "a"] and stage.calls["a"] == 3
    assert stage.counts.retries == 2 and stage.counts.records == 2
    stubborn = Flaky(FlakyParams(failures=5), retries=1, backoff_s=0.001)
    assert stubborn.run_one("a") == ["transient: a: try again"]
    assert stubborn.run_one("bad") == ["permanent: bad: broken"] and stubborn.calls["bad"] == 1
    assert stubborn.run_one("slow") == ["timeout: slow: too slow"] and stubborn.calls["slow"] == 1
    assert stubborn.counts.failed == {"permanent": 1, "timeout": 1, "transient": 1} and stubborn.counts.failures == 3


def test_calling_a_stage_counts_and_lets_errors_through():
    stage = Flaky()
    with pytest.raises(MediaError):
        stage("bad")
    assert stage("a") == ["a", "a"] and stage.counts.processed == 1 and stage.counts.failed == {}


def test_setup_runs_once_before_the_first_item_even_from_many_threads():
    stage = Flaky()
    assert stage.setups == 0
    threads = [threading.Thread(target=stage, args=(f"item{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stage.setups == 1 and stage.counts.processed == 8


def test_unexpected_errors_propagate():
    class Broken(Flaky):
        def process(self, item: str) -> list[str]:
            raise KeyError(item)

    with pytest.raises(KeyError):
        Broken().run_one("a")


def test_the_fingerprint_is_name_version_output_params_model_and_inputs():
    base = Flaky(FlakyParams(failures=1))
    assert Flaky(FlakyParams(failures=1, threads=8)).fingerprint == base.fingerprint  # not an output parameter
    assert Flaky(FlakyParams(failures=2)).fingerprint != base.fingerprint
    assert Flaky(FlakyParams(failures=1), upstream={"corpus": "x"}).fingerprint != base.fingerprint

    class Bumped(Flaky):
        version = 4

    class Modelled(Flaky):
        def model_hash(self) -> str:
            return "model:abc"

    assert Bumped(FlakyParams(failures=1)).fingerprint != base.fingerprint
    assert Modelled(FlakyParams(failures=1)).fingerprint != base.fingerprint
    assert len(base.fingerprint) == 20


def test_parameters_and_inputs_are_checked():
    with pytest.raises(TypeError, match="expected FlakyParams"):
        Flaky(MinSizeParams())
    with pytest.raises(ValueError, match="undeclared inputs: detect"):
        Flaky(upstream={"detect": "x"})


def test_counts_add_up_across_runs_and_round_trip_through_json():
    a, b = (
        StageCounts("detect", processed=2, records=5, seconds=1.5, failed={"permanent": 1}),
        StageCounts("detect", processed=1, dropped={"x": 2}),
    )
    total = a.add(b)
    assert (total.processed, total.records, total.failed, total.dropped, total.seconds) == (3, 5, {"permanent": 1}, {"x": 2}, 1.5)
    assert StageCounts.from_json(total.to_json()) == total
    assert sum_counts([{"detect": a}, {"detect": b, "align": StageCounts("align", saved=1)}]) == {
        "detect": total,
        "align": StageCounts("align", saved=1),
    }
