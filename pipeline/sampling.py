"""Frame sampling: a spec string in, decoded frames with their true presentation times out.

Specs: ``fps:N`` (first frame at or after each 1/N s step of a grid anchored on
the first decoded frame; drift-free, correct on variable frame rate), ``every:N``
(every Nth decoded frame), ``uniform:K`` (the first frame at or after each of K
times spread evenly over [start, end)), ``keyframes`` (I-frames only, decoded with
``-skip_frame nokey``). ``max_frames``, ``start_s`` and ``end_s`` bound any spec.

Decoding runs one ffmpeg subprocess whose graph ffmpeg-python builds. Frames
come back as a PPM stream (each frame carries its own size, so rotation and
mid-stream size changes need no bookkeeping); ``showinfo`` reports each output
frame's pts on stderr. ``-copyts`` keeps the source timestamps (ffmpeg otherwise
shifts them by the container's start time), and ``-fps_mode passthrough`` stops
ffmpeg padding duplicate frames. Rotation metadata is honoured by ffmpeg's
autorotation. Images are RGB, uint8, HxWx3, origin top-left.
"""

from __future__ import annotations

import math
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from pipeline.errors import MediaError, TransientError, VideoTimeout
from pipeline.ffmpeg_bin import ffmpeg_exe
from pipeline.probe import ProbeInfo

_SPEC_RE = re.compile(r"^(fps|every|uniform):([0-9]*\.?[0-9]+)$|^keyframes$")
_PTS_RE = re.compile(rb"\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[0-9.e+-]+)")
# Guards floor() on times that are an exact multiple of the step.
_GRID_EPS = 1e-6


@dataclass(frozen=True)
class SampleSpec:
    """A parsed sampling spec. ``value`` is N or K; None for keyframes."""

    mode: str
    value: float | None
    max_frames: int | None = None
    start_s: float = 0.0
    end_s: float | None = None

    @classmethod
    def parse(
        cls, spec: str, *, max_frames: int | None = None, start_s: float = 0.0, end_s: float | None = None
    ) -> SampleSpec:
        match = _SPEC_RE.match(spec.strip())
        if not match:
            raise ValueError(f"bad sampling spec {spec!r}: use fps:N, every:N, uniform:K or keyframes")
        mode = match.group(1) or "keyframes"
        value = float(match.group(2)) if match.group(2) else None
        if value is not None and value <= 0:
            raise ValueError(f"bad sampling spec {spec!r}: the number must be > 0")
        if mode in ("every", "uniform") and value is not None and value != int(value):
            raise ValueError(f"bad sampling spec {spec!r}: {mode} takes a whole number")
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be >= 1")
        if start_s < 0 or (end_s is not None and end_s <= start_s):
            raise ValueError(f"bad time window start_s={start_s} end_s={end_s}")
        return cls(mode, value, max_frames, start_s, end_s)

    @property
    def text(self) -> str:
        """Canonical text, stored in manifests and fingerprints."""
        base = self.mode if self.value is None else f"{self.mode}:{self.value:g}"
        extras = []
        if self.max_frames is not None:
            extras.append(f"max_frames={self.max_frames}")
        if self.start_s:
            extras.append(f"start_s={self.start_s:g}")
        if self.end_s is not None:
            extras.append(f"end_s={self.end_s:g}")
        return ";".join([base, *extras])


@dataclass(frozen=True)
class Frame:
    """One decoded frame: RGB uint8 HxWx3, upright, full resolution."""

    index: int
    pts_s: float
    image_rgb: np.ndarray

    @property
    def size_px(self) -> tuple[int, int]:
        return self.image_rgb.shape[1], self.image_rgb.shape[0]


def build_command(path: Path, spec: SampleSpec, info: ProbeInfo) -> list[str]:
    """The ffmpeg argv for ``spec`` on ``path`` (built by ffmpeg-python)."""
    input_kwargs: dict[str, object] = {}
    if spec.mode == "keyframes":
        input_kwargs["skip_frame"] = "nokey"
    if spec.start_s > 0 and not info.is_image:
        input_kwargs["ss"] = spec.start_s
    if spec.end_s is not None and not info.is_image:
        input_kwargs["to"] = spec.end_s
    stream = ffmpeg.input(str(path), **input_kwargs).video
    select = _select_expr(spec, info)
    if select:
        stream = stream.filter("select", select)
    stream = stream.filter("showinfo")
    output_kwargs: dict[str, object] = {
        "format": "image2pipe",
        "vcodec": "ppm",
        "pix_fmt": "rgb24",
        "fps_mode": "passthrough",
        "copyts": None,
    }
    if spec.max_frames is not None:
        output_kwargs["frames:v"] = spec.max_frames
    out = ffmpeg.output(stream, "pipe:", **output_kwargs).global_args("-nostdin", "-hide_banner")
    return out.compile(cmd=ffmpeg_exe())


def _select_expr(spec: SampleSpec, info: ProbeInfo) -> str | None:
    window = []
    if spec.start_s > 0:
        window.append(f"gte(t,{spec.start_s:.6f})")
    if spec.end_s is not None:
        window.append(f"lt(t,{spec.end_s:.6f})")
    if spec.mode == "fps":
        step = f"floor((t-start_t)*{spec.value:g}+{_GRID_EPS})"
        prev = f"floor((prev_selected_t-start_t)*{spec.value:g}+{_GRID_EPS})"
        rule = f"isnan(prev_selected_t)+gt({step},{prev})"
    elif spec.mode == "every":
        rule = f"not(mod(n,{int(spec.value)}))"
    elif spec.mode == "uniform":
        rule = _uniform_rule(spec, info)
    else:
        rule = None
    parts = window + ([f"gt({rule},0)"] if rule else [])
    return "*".join(parts) if parts else None


def _uniform_rule(spec: SampleSpec, info: ProbeInfo) -> str:
    count = int(spec.value)
    t0 = max(spec.start_s, info.first_pts_s)
    t1 = info.first_pts_s + info.duration_s if spec.end_s is None else min(spec.end_s, info.first_pts_s + info.duration_s)
    span = max(t1 - t0, 0.0)
    # Floored to the microsecond so a frame lying exactly on a target is not missed.
    targets = sorted({math.floor((t0 + span * k / count) * 1e6) / 1e6 for k in range(count)})
    # The first frame at or after each target; a frame that answers several targets is taken once.
    terms = [f"gte(t,{t:.6f})*(isnan(prev_selected_t)+lt(prev_selected_t,{t:.6f}))" for t in targets]
    return "+".join(terms)


@dataclass(frozen=True)
class Deadline:
    """When a video's processing must end: ``at_s`` on the monotonic clock; the
    budget ``timeout_s`` is what error messages name (a deterministic number)."""

    at_s: float
    timeout_s: float

    @classmethod
    def after(cls, timeout_s: float) -> Deadline:
        return cls(time.monotonic() + timeout_s, timeout_s)

    def remaining_s(self) -> float:
        return self.at_s - time.monotonic()


def iter_frames(path: Path, spec: SampleSpec, info: ProbeInfo, deadline: Deadline | None = None) -> Iterator[Frame]:
    """Decode the frames ``spec`` selects from ``path``, in presentation order.

    Raises :class:`MediaError` when ffmpeg fails before producing any frame,
    :class:`VideoTimeout` when ``deadline`` passes (ffmpeg is killed), and
    :class:`TransientError` when ffmpeg dies of a signal nobody here sent.
    """
    name = Path(path).name
    argv = build_command(path, spec, info)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = _StderrReader(proc.stderr)
    watchdog = _Watchdog(proc, deadline)
    index = 0
    closed_early = False
    try:
        while (image := _read_ppm(proc.stdout)) is not None:
            pts_s = stderr.pts_of(index)
            if pts_s is None:
                break
            yield Frame(index=index, pts_s=pts_s, image_rgb=image)
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


class _Watchdog:
    """Kills ``proc`` when ``deadline`` passes."""

    def __init__(self, proc: subprocess.Popen, deadline: Deadline | None) -> None:
        self.fired = False
        self._proc = proc
        self._timer = None
        if deadline is not None:
            self._timer = threading.Timer(max(deadline.remaining_s(), 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        if self._proc.poll() is None:
            self.fired = True
            self._proc.kill()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _StderrReader:
    """Drains ffmpeg's stderr on a thread; hands out showinfo pts in frame order."""

    def __init__(self, pipe) -> None:
        self._pts: list[float] = []
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
                    self._pts.append(float(match.group(3)))
                    self._cond.notify_all()
                elif line.strip():
                    self._tail = (self._tail + [line.strip()])[-5:]
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def pts_of(self, index: int) -> float | None:
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
