"""One run at a time per dataset folder: a file lock (``filelock``) at ``<out>/.lock``.

Two runs on one ``--out`` would both do all the work and the last writer would win
while both report success. Every command that writes a dataset folder holds its lock
(``with dataset_lock(out):``); a second one waits up to ``wait_s`` and then refuses,
naming the holder (host, pid, command, since when, from ``<out>/.lock.holder``).
Other writers (forget, gc) take the same lock. It is reentrant within a thread (forget
holds it and calls ``run_curate``, which takes it again): one ``FileLock`` per folder.
A run that writes two folders (the dataset and a separate detect folder,
``extract.detect_root``) holds both (``folders_lock``), always in path order, so two
runs taking the same pair never deadlock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_NAME = ".lock"
HOLDER_NAME = ".lock.holder"


class DatasetLocked(RuntimeError):
    """Another run holds the dataset folder's lock."""


# One FileLock per folder in this process: filelock counts a thread's nested acquisitions
# of the same instance, where a second instance's flock would wait on the first.
_LOCKS: dict[Path, FileLock] = {}


@contextlib.contextmanager
def dataset_lock(out_dir: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``out_dir``'s lock for the block; wait at most ``wait_s`` seconds for it, then
    raise :class:`DatasetLocked` naming the holder. The lock is the OS's (fcntl): a killed
    holder releases it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = _LOCKS.setdefault(out_dir.resolve(), FileLock(out_dir.resolve() / LOCK_NAME))
    nested = lock.is_locked  # this thread holds it already: the outer holder's record stays
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise DatasetLocked(f"{out_dir}: another run holds this dataset's lock ({holder(out_dir)}); wait for it or stop it") from None
    try:
        if not nested:
            (out_dir / HOLDER_NAME).write_text(json.dumps(_me()), encoding="utf-8")
        yield
    finally:
        if not nested:
            with contextlib.suppress(OSError):
                (out_dir / HOLDER_NAME).unlink()
        lock.release()


@contextlib.contextmanager
def folders_lock(folders: Iterable[Path], wait_s: float = 0.0) -> Iterator[None]:
    """Hold the lock of every folder in ``folders`` (each once, in path order) for the block."""
    with contextlib.ExitStack() as stack:
        for folder in sorted({Path(f).resolve() for f in folders}):
            stack.enter_context(dataset_lock(folder, wait_s))
        yield


def holder(out_dir: Path) -> str:
    """Who holds ``out_dir``'s lock, in words (as its holder wrote it)."""
    try:
        who = json.loads((Path(out_dir) / HOLDER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "holder unknown"
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(who.get("since", 0)))
    return f"pid {who.get('pid')} on {who.get('host')}, `{who.get('command')}`, since {since}"


def _me() -> dict[str, object]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:200], "since": time.time()}
