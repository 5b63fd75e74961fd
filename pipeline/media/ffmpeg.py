"""The ffmpeg binary and the runner of one sampling command: decoded frames with their pts.

ffmpeg is the one on PATH when present, else imageio-ffmpeg's binary. Frames come
back as a PPM stream (each frame carries its own size, so rotation and mid-stream
size changes need no bookkeeping); ``showinfo`` reports each output frame's pts
on stderr. A :class:`Deadline` kills a run that takes too long. Images are RGB,
uint8, HxWx3, upright (ffmpeg autorotates), origin top-left.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from pipeline.errors import MediaError, TransientError, VideoTimeout

FFMPEG_ENV = "FACECORPUS_FFMPEG"
_PTS_RE = re.compile(rb"\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[0-9.e+-]+)")
_SIZE_RE = re.compile(rb" s:(\d+)x(\d+) ")
# showinfo's options: its per-frame plane checksums are not read, and cost CPU (60 sampled 1080p
# frames of a 1 s GOP clip: 7.24-7.54 s without them against 7.79-8.52 s with, 3 interleaved pairs).
SHOWINFO_KWARGS: dict[str, object] = {"checksum": 0}
# Every sampling command writes raw RGB frames as PPM to its stdout, keeping the source timestamps.
OUTPUT_KWARGS: dict[str, object] = {
    "format": "image2pipe",
    "vcodec": "ppm",
    "pix_fmt": "rgb24",
    "fps_mode": "passthrough",
    "copyts": None,
}


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run.

    ``$FACECORPUS_FFMPEG`` wins, then ``ffmpeg`` on PATH, then the static build
    that ships inside the ``imageio-ffmpeg`` wheel (so no system package is needed).
    """
    override = os.environ.get(FFMPEG_ENV)
    if override:
        return override
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Frame:
    """One decoded frame: RGB uint8 HxWx3, upright, full resolution."""

    index: int
    pts_s: float
    image_rgb: np.ndarray

    @property
    def size_px(self) -> tuple[int, int]:
        return self.image_rgb.shape[1], self.image_rgb.shape[0]


class Deadline:
    """When a video's processing must end: ``timeout_s`` after it starts, on the monotonic clock;
    ``timeout_s`` is also what error messages name (a deterministic number).

    A :meth:`pending` deadline (a video opened ahead, while the one before it is still worked
    on) has not started: it allows what is left of its budget after the work charged to it
    (:meth:`charge`: its probe) until :meth:`start`, and a watchdog waiting on it is armed then, so the time a
    video waits for its turn is not charged to it, and its probe and decoding share one budget."""

    def __init__(self, timeout_s: float, at_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self._at_s = at_s
        self._charged_s = 0.0
        self._armers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @classmethod
    def after(cls, timeout_s: float) -> Deadline:
        return cls(timeout_s, time.monotonic() + timeout_s)

    @classmethod
    def pending(cls, timeout_s: float) -> Deadline:
        return cls(timeout_s)

    @property
    def started(self) -> bool:
        return self._at_s is not None

    def remaining_s(self) -> float:
        at_s = self._at_s
        return self.timeout_s - self._charged_s if at_s is None else at_s - time.monotonic()

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` of the video's own work done before its clock starts (a pending deadline)."""
        with self._lock:
            if self._at_s is None:
                self._charged_s += seconds

    def start(self) -> None:
        """Start the clock (once; a started deadline stays as it is) and arm what waits on it."""
        self._begin(lambda: self.timeout_s - self._charged_s)

    def expire(self) -> None:
        """End a pending deadline now: what waits on it is killed (a video opened ahead, closed unread)."""
        self._begin(lambda: 0.0)

    def _begin(self, budget_s: Callable[[], float]) -> None:
        with self._lock:
            if self._at_s is not None:
                return
            self._at_s = time.monotonic() + budget_s()
            armers, self._armers = self._armers, []
        for arm in armers:
            arm()

    def when_started(self, arm: Callable[[], None]) -> None:
        """Call ``arm`` now when the clock runs, else when it starts."""
        with self._lock:
            if self._at_s is None:
                self._armers.append(arm)
                return
        arm()


def run_frames(argv: list[str], name: str, deadline: Deadline | None) -> Iterator[tuple[np.ndarray, int, float]]:
    """Run one ffmpeg sampling command; yield (image, pts in stream ticks, pts_s) per output frame."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = _StderrReader(proc.stderr)
    watchdog = _Watchdog(proc, deadline)
    index = 0
    closed_early = False
    try:
        while (image := _read_ppm(proc.stdout)) is not None:
            pts = stderr.pts_of(index)
            if pts is None:
                break
            _same_size(name, index, pts[2], image)
            yield image, pts[0], pts[1]
            index += 1
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            closed_early = True
            proc.stdout.close()
            proc.kill()
        rc = proc.wait()
        stderr.join()
    if watchdog.fired:
        raise VideoTimeout(f"{name}: still decoding after the {deadline.timeout_s:g} s timeout; ffmpeg was killed")
    if rc < 0 and not closed_early:
        raise TransientError(f"{name}: ffmpeg was killed by signal {-rc}")
    if rc != 0 and index == 0:
        raise MediaError(f"{name}: ffmpeg could not decode it ({stderr.last_error()})")


def _same_size(name: str, index: int, decoded: tuple[int, int] | None, image: np.ndarray) -> None:
    """ffmpeg scales every output frame to the first one's size (its PPM encoder has one
    size; ``-noautoscale`` crashes it, measured with 9.0): a frame decoded at another size
    would be detected at the wrong resolution, so the input is refused, named."""
    if decoded is not None and decoded != (image.shape[1], image.shape[0]):
        raise MediaError(
            f"{name}: the resolution changes mid-stream ({image.shape[1]}x{image.shape[0]} -> {decoded[0]}x{decoded[1]} "
            f"at sampled frame {index}); frames at full resolution cannot be had from one decode: not supported"
        )


class _Watchdog:
    """Kills ``proc`` when ``deadline`` passes (armed when the deadline starts)."""

    def __init__(self, proc: subprocess.Popen, deadline: Deadline | None) -> None:
        self.fired = False
        self._proc = proc
        self._timer: threading.Timer | None = None
        self._cancelled = False
        self._lock = threading.Lock()
        self._deadline = deadline
        if deadline is not None:
            deadline.when_started(self._arm)

    def _arm(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._timer = threading.Timer(max(self._deadline.remaining_s(), 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        if self._proc.poll() is None:
            self.fired = True
            self._proc.kill()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._timer is not None:
                self._timer.cancel()


class _StderrReader:
    """Drains ffmpeg's stderr on a thread; hands out showinfo pts in frame order."""

    def __init__(self, pipe) -> None:
        self._pts: list[tuple[int, float, tuple[int, int] | None]] = []
        self._tail: list[bytes] = []
        self._cond = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe) -> None:
        for line in pipe:
            match = _PTS_RE.search(line)
            with self._cond:
                if match:
                    size = _SIZE_RE.search(line)
                    decoded = (int(size.group(1)), int(size.group(2))) if size else None
                    self._pts.append((int(match.group(2)), float(match.group(3)), decoded))
                    self._cond.notify_all()
                elif line.strip():
                    self._tail = (self._tail + [line.strip()])[-5:]
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def pts_of(self, index: int) -> tuple[int, float, tuple[int, int] | None] | None:
        """(pts in stream ticks, pts_s, decoded size) of output frame ``index``; None when ffmpeg ended first."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._pts) > index or self._done)
            return self._pts[index] if len(self._pts) > index else None

    def join(self) -> None:
        self._thread.join()

    def last_error(self) -> str:
        text = self._tail[-1].decode("utf-8", "replace") if self._tail else "no output"
        # Drop "path: " prefixes so the reason is the same wherever the file lives.
        return text.rsplit(": ", 1)[-1]


def _read_ppm(stream) -> np.ndarray | None:
    """Read one binary PPM (P6, maxval 255) from ``stream``; None at end of stream."""
    header: list[bytes] = []
    token = b""
    while len(header) < 4:
        ch = stream.read(1)
        if not ch:
            return None
        if ch.isspace():
            if token:
                header.append(token)
                token = b""
        else:
            token += ch
    if header[0] != b"P6" or header[3] != b"255":
        raise MediaError(f"unexpected frame header from ffmpeg: {header!r}")
    width, height = int(header[1]), int(header[2])
    size = width * height * 3
    data = stream.read(size)
    if len(data) < size:
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
