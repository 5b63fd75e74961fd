"""Opening the next video ahead: its probe, and the start of its decoding, while the current one is worked on.

A run of short videos (a DFDC-style corpus: ten-second clips) used to wait, for every video,
for the probe's round trip (0.03 s) and for ffmpeg to start and reach its first sampled frame
(0.08-0.14 s for 1080p H.264; the static binary's start alone is 0.07 s), with the detector and
the aligner idle. :class:`OpenAhead` opens the run's next video on a thread of its own (with its
own probe child) as soon as the current one starts: its first frames are decoded (at most the
prefetch depth) and waiting when its turn comes. On ``bench/pairs.py``'s corpus (bench/RESULTS.md)
an aligned fake, which runs no detector, went from 0.38-0.40 s to 0.16-0.35 s, and the off/on
ratio from 1.37x to 1.40-1.59x.

A video opened ahead has a pending :class:`~pipeline.media.ffmpeg.Deadline`: its clock starts
when its turn comes, so waiting behind a long video is not charged to it. Whatever goes wrong
while opening (a probe that fails or times out, the file changed) is kept and raised when the
video's turn comes, as that video's error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from pipeline.corpus.snapshot import VideoInput
from pipeline.media.ffmpeg import Deadline
from pipeline.media.isolate import probe_ready, probe_start
from pipeline.media.prefetch import Prefetched
from pipeline.media.probe import ProbeInfo


@dataclass
class Opened:
    """A video probed, with its sampled frames decoding ahead; or why it could not be opened."""

    info: ProbeInfo | None
    frames: Prefetched | None
    deadline: Deadline | None
    error: Exception | None = None

    def begin(self) -> tuple[ProbeInfo, Prefetched]:
        """The video's turn: its clock starts, and its error (when opening failed) is raised here."""
        if self.deadline is not None:
            self.deadline.start()
        if self.error is not None:
            raise self.error
        assert self.info is not None and self.frames is not None
        return self.info, self.frames

    def close(self) -> None:
        """Stop decoding (ffmpeg is killed when its frames were not all read). A video closed before its
        turn has its deadline expired first, so an ffmpeg that stalls without output is killed too."""
        if self.deadline is not None:
            self.deadline.expire()
        if self.frames is not None:
            self.frames.close()


_thread_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _thread() -> ThreadPoolExecutor:
    """The one thread that opens videos ahead, kept for the process's life like its probe child
    (whose start, 0.2-0.25 s of imports, is then paid once, not once per run)."""
    global _pool
    with _thread_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-ahead")
        return _pool


class OpenAhead:
    """Opens videos ahead of their turn, one at a time, on the opening thread; one per run."""

    def __init__(self, open_: Callable[[VideoInput, Deadline | None], Opened], timeout_s: float | None) -> None:
        self._open = open_
        self._timeout_s = timeout_s
        self._opened: dict[str, Future[Opened]] = {}

    def warm(self) -> None:
        """Start the thread's probe child now, unless it runs (its imports overlap the model's load)."""
        _thread().submit(probe_start)

    def with_next(self, items: Iterable[VideoInput]) -> Iterator[tuple[VideoInput, VideoInput | None]]:
        """Each item with the one after it (None after the last); the opening thread's probe child is
        started when there are items."""
        items = iter(items)
        upcoming = next(items, None)
        if upcoming is not None:
            self.warm()
        while upcoming is not None:
            item, upcoming = upcoming, next(items, None)
            yield item, upcoming

    def open_unless_done(self, item: VideoInput | None, stored: Callable[[VideoInput], object]) -> None:
        """Open ``item`` when it will be decoded: no problem found when it was hashed, and no finished
        work (``stored`` gives None). When its stored work cannot be read it is not opened: its own
        turn reports that."""
        if item is None or item.problem:
            return
        try:
            unfinished = stored(item) is None
        except Exception:
            return
        if unfinished:
            self.open(item)

    def open(self, item: VideoInput) -> None:
        """Open ``item`` on the thread (once), its deadline pending until :meth:`take`."""
        if item.video_id not in self._opened:
            deadline = Deadline.pending(self._timeout_s) if self._timeout_s else None
            self._opened[item.video_id] = _thread().submit(self._open_on_thread, item, deadline)

    def _open_on_thread(self, item: VideoInput, deadline: Deadline | None) -> Opened:
        probe_ready()  # the thread's probe child, restarted after a kill, is not the video's time
        return self._open(item, deadline)

    def take(self, video_id: str) -> Opened | None:
        """The video opened ahead (waiting for its opening to finish), or None when it was not."""
        future = self._opened.pop(video_id, None)
        return future.result() if future is not None else None

    def discard(self, video_id: str) -> None:
        """Close a video opened ahead that turned out to need no decoding."""
        opened = self.take(video_id)
        if opened is not None:
            opened.close()

    def close(self) -> None:
        """Close every video still open (killing its ffmpeg)."""
        for video_id in list(self._opened):
            self.discard(video_id)
