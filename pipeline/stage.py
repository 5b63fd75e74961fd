"""The stage base: one item in, one record out; stats and expected errors kept here.

A stage implements :meth:`Stage.process` (the work) and :meth:`Stage.failed` (the
record for an input that raised one of ``expected_errors``). Anything else is a
bug and propagates. Modelled on datatrove's ``PipelineStep``.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pipeline.errors import MediaError

In = TypeVar("In")
Out = TypeVar("Out")
log = logging.getLogger(__name__)


@dataclass
class StageStats:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


class Stage(abc.ABC, Generic[In, Out]):
    name: str = "stage"
    expected_errors: tuple[type[Exception], ...] = (MediaError,)

    def __init__(self) -> None:
        self.stats = StageStats()

    @abc.abstractmethod
    def process(self, item: In) -> Out:
        """Do the work for one item."""

    @abc.abstractmethod
    def failed(self, item: In, error: Exception) -> Out:
        """The record for an item whose processing raised an expected error."""

    def skip(self, item: In) -> Out | None:
        """A finished record for ``item`` if its work is already done, else None."""
        return None

    def run(self, items: Iterable[In]) -> Iterator[Out]:
        for item in items:
            started = time.perf_counter()
            done = self.skip(item)
            if done is not None:
                self.stats.skipped += 1
                yield done
                continue
            try:
                record = self.process(item)
                self.stats.ok += 1
            except self.expected_errors as exc:
                log.warning("%s: %s", self.name, exc)
                self.stats.failed += 1
                self.stats.errors.append(str(exc))
                record = self.failed(item, exc)
            finally:
                self.stats.seconds += time.perf_counter() - started
            yield record
