"""Another process holding a dataset folder's lock (pipeline/runs/lock.py), for the lock tests."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

from pipeline.runs.lock import dataset_lock


def hold(out: str, ready, release) -> None:
    """The holder process: take ``out``'s lock, say so, keep it until released (at most 30 s)."""
    with dataset_lock(Path(out)):
        ready.set()
        release.wait(30)


@contextlib.contextmanager
def held(folder: Path) -> Iterator[multiprocessing.Process]:
    """``folder``'s lock held by a spawned process for the block (yielded: the process, e.g. its pid)."""
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold, args=(str(folder), ready, release))
    holder.start()
    try:
        assert ready.wait(30), f"the holder process did not take {folder}'s lock"
        yield holder
    finally:
        release.set()
        holder.join(30)
