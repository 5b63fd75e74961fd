"""Decoding ahead: frames produced on a thread while the caller works on the current one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from pipeline.media.ffmpeg import Frame

# How long closing a prefetch waits for the decoding thread (a hung decoder without
# a deadline would otherwise hang the caller; the thread then closes it when it can).
PREFETCH_STOP_S = 30.0


def prefetch(frames: Iterator[Frame], depth: int) -> Prefetched:
    """``frames`` decoded ahead on a thread, at most ``depth`` waiting, so decoding
    (ffmpeg, and reading its pipe) overlaps the caller's work on the current frame.
    Decoding starts now, not at the first ``next``: a video opened ahead
    (``pipeline/stages/ahead.py``) has its first frames ready when its turn comes.
    Errors reach the caller in order; closing this closes ``frames``."""
    return Prefetched(frames, depth)


class Prefetched(Iterator[Frame]):
    """The frames :func:`prefetch` decodes ahead; close it (or exhaust it) to stop the thread."""

    def __init__(self, frames: Iterator[Frame], depth: int) -> None:
        self._ahead = _Prefetcher(frames, depth) if depth >= 1 else None
        self._frames = iter(self._ahead) if self._ahead is not None else frames

    def __next__(self) -> Frame:
        try:
            return next(self._frames)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.stop()
        else:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()


class _Prefetcher:
    _END = object()

    def __init__(self, frames: Iterator[Frame], depth: int) -> None:
        self._frames = frames
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self._frames:
                if not self._put(frame):
                    return
            self._put(self._END)
        except BaseException as exc:
            self._put(exc)
        finally:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()

    def _put(self, item) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Frame]:
        while (item := self._queue.get()) is not self._END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        """Stop decoding ahead: the thread closes ``frames`` (killing ffmpeg) once its
        current read returns, within one frame's decode or at the deadline."""
        self._stopping.set()
        self._thread.join(PREFETCH_STOP_S)
