"""The stage base: one item in, one record out; retries, stats and expected errors kept here.

A stage implements :meth:`Stage.process` (the work), :meth:`Stage.failed` (the
record for an input that raised an expected error) and, optionally,
:meth:`Stage.skip` (a finished record when the work is already done). Transient
errors are retried with exponential backoff; timeouts are not (a hang would hang
again); anything unexpected is a bug and propagates. Modelled on datatrove's
``PipelineStep``.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pipeline.errors import MediaError, TransientError, VideoTimeout

In = TypeVar("In")
Out = TypeVar("Out")
log = logging.getLogger(__name__)

ERROR_PERMANENT = "permanent"
ERROR_TRANSIENT = "transient"
ERROR_TIMEOUT = "timeout"
RETRYABLE_KINDS = (ERROR_TRANSIENT, ERROR_TIMEOUT)


@dataclass
class StageStats:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    retries: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


class Stage(abc.ABC, Generic[In, Out]):
    name: str = "stage"
    permanent_errors: tuple[type[Exception], ...] = (MediaError,)
    transient_errors: tuple[type[Exception], ...] = (TransientError,)

    def __init__(self, retries: int = 0, backoff_s: float = 0.5) -> None:
        self.stats = StageStats()
        self.retries = retries
        self.backoff_s = backoff_s
        self._stats_lock = threading.Lock()

    @abc.abstractmethod
    def process(self, item: In) -> Out:
        """Do the work for one item."""

    @abc.abstractmethod
    def failed(self, item: In, error: Exception, kind: str) -> Out:
        """The record for an item whose processing raised an expected error of ``kind``."""

    def skip(self, item: In) -> Out | None:
        """A finished record for ``item`` if its work is already done, else None."""
        return None

    def run(self, items: Iterable[In]) -> Iterator[Out]:
        for item in items:
            yield self.run_one(item)

    def run_one(self, item: In) -> Out:
        started = time.perf_counter()
        try:
            done = self.skip(item)
            if done is not None:
                self._count(skipped=1)
                return done
            return self._attempts(item)
        finally:
            self._count(seconds=time.perf_counter() - started)

    def _attempts(self, item: In) -> Out:
        attempt = 0
        while True:
            try:
                record = self.process(item)
                self._count(ok=1)
                return record
            except self.permanent_errors as exc:
                error, kind = exc, ERROR_PERMANENT
            except VideoTimeout as exc:
                error, kind = exc, ERROR_TIMEOUT
            except self.transient_errors as exc:
                if attempt < self.retries:
                    log.info("%s: %s; retry %d of %d", self.name, exc, attempt + 1, self.retries)
                    time.sleep(self.backoff_s * 2**attempt)
                    attempt += 1
                    self._count(retries=1)
                    continue
                error, kind = exc, ERROR_TRANSIENT
            log.warning("%s: %s (%s)", self.name, error, kind)
            self._count(failed=1, error=str(error))
            return self.failed(item, error, kind)

    def _count(self, error: str | None = None, **deltas: float) -> None:
        with self._stats_lock:
            for key, value in deltas.items():
                setattr(self.stats, key, getattr(self.stats, key) + value)
            if error is not None:
                self.stats.errors.append(error)
