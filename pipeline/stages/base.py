"""The stage contract: every stage declares what it is, and the base keeps the books.

A stage (modelled on datatrove's ``PipelineStep``) declares

- ``name`` and ``version``: bump the version whenever the stage's output changes
  for the same input (a golden test per stage fails when the output changes and
  the version does not);
- ``Params``: a frozen dataclass of its parameters (fields marked
  ``records.NOT_OUTPUT``, such as thread counts, do not shape the output);
- ``inputs``: what it reads (the stages or manifests upstream);
- ``columns``: the Arrow schema of the records it writes (None: it writes none).

and implements ``process(item)`` (one item in, its records out; ``self.drop(item,
reason)`` to drop it) and, when it needs one, ``setup()`` (load models: called
once, before the first item). Its ``fingerprint`` hashes the name, the version,
the output parameters, the model's identity (``model_hash()``) and the
fingerprints of its inputs (``upstream``): stored work is reused exactly when the
fingerprint matches, so a refactor, a comment or a moved module reruns nothing.

The base keeps :class:`StageCounts` (items processed, records, drops by reason,
failures by :class:`~pipeline.records.ErrorKind`, retries, work saved and reused,
seconds): the run summaries, the flow's report and the DVC metrics read them.
``run_one(item)`` adds retries of transient errors (exponential backoff) and
turns expected errors into records (``failed``); calling the stage (``stage(item)``)
only times and counts, letting errors reach the enclosing stage.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

import pyarrow as pa

from pipeline.errors import MediaError, TransientError, VideoTimeout
from pipeline.records import ErrorKind, output_params

In = TypeVar("In")
Out = TypeVar("Out")
log = logging.getLogger(__name__)
FINGERPRINT_CHARS = 20


@dataclass(frozen=True)
class NoParams:
    """The parameters of a stage that has none."""


@dataclass(frozen=True)
class Dropped(Generic[In]):
    """What ``process`` returns for an item it drops, with the reason (a short snake_case name)."""

    item: In
    reason: str


@dataclass
class StageCounts:
    """What a stage did. ``processed``: items ``process`` finished; ``records``: records
    it returned; ``frames``: frames decoded for it; ``saved``/``reused``: units of
    finished work stored/found (per-video stages: videos); ``failed``: by error
    kind; ``dropped``: by reason."""

    stage: str
    processed: int = 0
    records: int = 0
    frames: int = 0
    saved: int = 0
    reused: int = 0
    retries: int = 0
    seconds: float = 0.0
    failed: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    def add(self, other: StageCounts) -> StageCounts:
        """These counts plus ``other``'s (the same stage run elsewhere: another shard, a worker)."""
        merged = StageCounts(self.stage)
        for f in fields(StageCounts):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                setattr(merged, f.name, {k: mine.get(k, 0) + theirs.get(k, 0) for k in sorted(set(mine) | set(theirs))})
            elif f.name != "stage":
                setattr(merged, f.name, mine + theirs)
        return merged

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(StageCounts)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageCounts:
        return cls(**data)


def sum_counts(runs: Iterable[Mapping[str, StageCounts]]) -> dict[str, StageCounts]:
    """Per-stage counts of several runs (shards, workers) added up."""
    total: dict[str, StageCounts] = {}
    for counts in runs:
        for name, value in counts.items():
            total[name] = total[name].add(value) if name in total else value
    return total


class Stage(abc.ABC, Generic[In, Out]):
    name: ClassVar[str]
    version: ClassVar[int]
    Params: ClassVar[type] = NoParams
    inputs: ClassVar[tuple[str, ...]] = ()
    columns: ClassVar[pa.Schema | None] = None
    permanent_errors: ClassVar[tuple[type[Exception], ...]] = (MediaError,)
    transient_errors: ClassVar[tuple[type[Exception], ...]] = (TransientError,)

    def __init__(self, params: Any = None, *, upstream: Mapping[str, str] | None = None, retries: int = 0, backoff_s: float = 0.5) -> None:
        self.params = self.Params() if params is None else params
        if not isinstance(self.params, self.Params):
            raise TypeError(f"{self.name}: expected {self.Params.__name__} parameters, got {type(self.params).__name__}")
        self.upstream = dict(upstream or {})
        missing = sorted(set(self.upstream) - set(self.inputs))
        if missing:
            raise ValueError(f"{self.name}: upstream fingerprints for undeclared inputs: {', '.join(missing)}")
        self.retries = retries
        self.backoff_s = backoff_s
        self.counts = StageCounts(self.name)
        self._lock = threading.Lock()
        self._ready = False

    def setup(self) -> None:
        """Load what the stage needs (models): called once, before the first item."""

    def model_hash(self) -> str | None:
        """The identity of the stage's model (name and file hash), or None."""
        return None

    @functools.cached_property
    def fingerprint(self) -> str:
        payload = {
            "stage": self.name,
            "version": self.version,
            "params": output_params(self.params),
            "model": self.model_hash(),
            "inputs": self.upstream,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:FINGERPRINT_CHARS]

    @abc.abstractmethod
    def process(self, item: In) -> Out | Dropped[In]:
        """The work for one item: its records, or ``self.drop(item, reason)``."""

    def drop(self, item: In, reason: str) -> Dropped[In]:
        return Dropped(item, reason)

    def failed(self, item: In, error: Exception, kind: ErrorKind) -> Out:
        """The record for an item whose processing raised an expected error (default: re-raise)."""
        raise error

    def reuse(self, item: In) -> Out | None:
        """The stored result for ``item`` when its work is already done, else None."""
        return None

    def count(self, **deltas: int | float) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self.counts, key, getattr(self.counts, key) + value)

    def ready(self) -> None:
        """Run ``setup`` once (thread-safe)."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.setup()
                    self._ready = True

    def __call__(self, item: In) -> Out | Dropped[In]:
        """Process one item, timed and counted; errors propagate to the caller."""
        self.ready()
        started = time.perf_counter()
        try:
            result = self.process(item)
        finally:
            self.count(seconds=time.perf_counter() - started)
        if isinstance(result, Dropped):
            with self._lock:
                self.counts.dropped[result.reason] = self.counts.dropped.get(result.reason, 0) + 1
        else:
            self.count(processed=1, records=len(result) if isinstance(result, (list, tuple, pa.Table)) else 1)
        return result

    def run(self, items: Iterable[In]) -> Iterator[Out | Dropped[In]]:
        for item in items:
            yield self.run_one(item)

    def run_one(self, item: In) -> Out | Dropped[In]:
        """The stored result, or the item processed with retries; an expected error
        becomes its ``failed`` record (counted by kind)."""
        done = self.reuse(item)
        if done is not None:
            self.count(reused=1)
            return done
        attempt = 0
        while True:
            try:
                return self(item)
            except self.permanent_errors as exc:
                error, kind = exc, ErrorKind.PERMANENT
            except VideoTimeout as exc:
                error, kind = exc, ErrorKind.TIMEOUT
            except self.transient_errors as exc:
                if attempt < self.retries:
                    log.info("%s: %s; retry %d of %d", self.name, exc, attempt + 1, self.retries)
                    time.sleep(self.backoff_s * 2**attempt)
                    attempt += 1
                    self.count(retries=1)
                    continue
                error, kind = exc, ErrorKind.TRANSIENT
            log.warning("%s: %s (%s)", self.name, error, kind.value)
            with self._lock:
                self.counts.failed[kind.value] = self.counts.failed.get(kind.value, 0) + 1
            return self.failed(item, error, kind)
