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

Sampling skips what its samples do not need. For ``fps``, ``every`` and
``uniform`` without a time window, the frames the spec selects are worked out
beforehand from the container's packet index (:func:`pipeline.probe.frame_index`,
every frame's pts, no decoding) with the same arithmetic as the select
expression. Between one sample and the keyframe before the next:

- H.264 in MP4/MOV, when that keyframe is an IDR picture: the packets in between
  (in decode order, by their stored dts) are dropped before the decoder (input
  bitstream filter ``noise=drop``), which costs only reading them;
- when that costs more than starting a new ffmpeg run (a long gap, or no
  dropping), the new run seeks to the keyframe (``-ss``, no accurate-seek
  trimming);
- otherwise the frames in between are decoded, as in one pass.

Each run's ``select`` takes the planned frames by exact pts. Decoding from a
keyframe (an IDR picture, where packets are dropped) gives the same pictures as
decoding from the start (only trusted containers and codecs are indexed), so the
frames, pixels and pts are the ones a single full pass gives; each run's output
pts are checked against the plan, and any disagreement falls back to the full pass.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg
import numpy as np

from pipeline.errors import MediaError, TransientError, VideoTimeout
from pipeline.ffmpeg_bin import ffmpeg_exe
from pipeline.probe import FrameIndex, ProbeInfo, frame_index

_SPEC_RE = re.compile(r"^(fps|every|uniform):([0-9]*\.?[0-9]+)$|^keyframes$")
_PTS_RE = re.compile(rb"\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[0-9.e+-]+)")
# Guards floor() on times that are an exact multiple of the step.
_GRID_EPS = 1e-6
# A seek pays when the frames it skips would take longer to decode than starting
# ffmpeg, opening the file and seeking. Measured on 1080p H.264 (2 cores, busy):
# 0.12 s to start, seek and output one frame, then about 3 ns per pixel per frame,
# as in one pass. The start cost is doubled: a new run also loses its overlap
# with the caller's work, and a miss costs more than a skipped seek.
SEEK_START_S = 0.25
DECODE_S_PER_PIXEL = 3e-9
# Dropped packets are still read and demuxed: about 10 us each plus 2 ns per byte
# (bench/: every packet of a 10 min 1080p clip dropped in about 0.3 s, page cache).
DEMUX_S_PER_PACKET = 1e-5
READ_S_PER_BYTE = 2e-9
# ffmpeg's -ss lands 3/23 s early on streams with B-frames (its dts heuristic):
# seek this much past the keyframe's pts so it lands on that keyframe.
SEEK_SLACK_S = 3 / 23 + 1e-3
SEEK_MARGIN_S = 1e-3
_FLAT_SUM_TERMS = 64
# How long closing a prefetch waits for the decoding thread (a hung decoder without
# a deadline would otherwise hang the caller; the thread then closes it when it can).
PREFETCH_STOP_S = 30.0


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


_OUTPUT_KWARGS: dict[str, object] = {
    "format": "image2pipe",
    "vcodec": "ppm",
    "pix_fmt": "rgb24",
    "fps_mode": "passthrough",
    "copyts": None,
}


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
    output_kwargs: dict[str, object] = dict(_OUTPUT_KWARGS)
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


def _uniform_targets(spec: SampleSpec, info: ProbeInfo) -> list[float]:
    count = int(spec.value)
    t0 = max(spec.start_s, info.first_pts_s)
    t1 = info.first_pts_s + info.duration_s if spec.end_s is None else min(spec.end_s, info.first_pts_s + info.duration_s)
    span = max(t1 - t0, 0.0)
    # Floored to the microsecond so a frame lying exactly on a target is not missed.
    return sorted({math.floor((t0 + span * k / count) * 1e6) / 1e6 for k in range(count)})


def _uniform_rule(spec: SampleSpec, info: ProbeInfo) -> str:
    # The first frame at or after each target; a frame that answers several targets is taken once.
    terms = [f"gte(t,{t:.6f})*(isnan(prev_selected_t)+lt(prev_selected_t,{t:.6f}))" for t in _uniform_targets(spec, info)]
    return sum_expr(terms)


def sum_expr(terms: list[str]) -> str:
    """``terms`` added up in one ffmpeg expression. ffmpeg's parser refuses a flat sum
    of more than 100 terms, so longer sums nest as a balanced tree (same value: the
    terms are small whole numbers, exact in any order)."""
    if len(terms) <= _FLAT_SUM_TERMS:
        return "+".join(terms)
    mid = len(terms) // 2
    return f"({sum_expr(terms[:mid])})+({sum_expr(terms[mid:])})"


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
    segments = seek_plan(path, spec, info)
    if segments is None:
        with contextlib.closing(_ffmpeg_frames(build_command(path, spec, info), Path(path).name, deadline)) as frames:
            for index, (image, _, pts_s) in enumerate(frames):
                yield Frame(index=index, pts_s=pts_s, image_rgb=image)
        return
    with contextlib.closing(_seek_frames(path, spec, info, segments, deadline)) as frames:
        yield from frames


def _ffmpeg_frames(argv: list[str], name: str, deadline: Deadline | None) -> Iterator[tuple[np.ndarray, int, float]]:
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


@dataclass(frozen=True)
class Segment:
    """One ffmpeg run of a sampling plan: seek to ``seek_s`` (ffmpeg's -ss value;
    None: decode from the start), drop the packets whose dts lie in the ``drop_dts``
    ranges (lo, hi), both exclusive (lo None: from the start), and output the
    frames whose pts (stream ticks) are ``pts``."""

    seek_s: float | None
    pts: tuple[int, ...]
    drop_dts: tuple[tuple[int | None, int], ...] = ()

    def drop_expr(self) -> str | None:
        """The ``noise`` bitstream filter's drop expression, or None."""
        terms = [f"lt(dts,{hi})" if lo is None else f"between(dts,{lo + 1},{hi - 1})" for lo, hi in self.drop_dts if lo is None or hi - lo > 1]
        return sum_expr(terms) if terms else None


class _PlanMismatch(Exception):
    """A seeking run did not give the planned frames."""


def seek_plan(path: Path, spec: SampleSpec, info: ProbeInfo) -> tuple[Segment, ...] | None:
    """The runs that sample ``spec`` on ``path`` skipping what is not needed; None when
    one plain full pass is as cheap or the file cannot be planned (no trusted index,
    a time window, keyframes, a still)."""
    if spec.mode not in ("fps", "every", "uniform") or info.is_image or spec.start_s > 0 or spec.end_s is not None:
        return None
    index = frame_index(path)
    if index is None:
        return None
    width, height = info.display_size_px
    segments = plan_segments(planned_positions(spec, info, index), index, DECODE_S_PER_PIXEL * max(width * height, 1))
    if len(segments) < 2 and all(seg.seek_s is None and not seg.drop_dts for seg in segments):
        return None
    return tuple(segments)


def planned_positions(spec: SampleSpec, info: ProbeInfo, index: FrameIndex) -> list[int]:
    """Positions (in presentation order) of the frames ``spec``'s select expression
    takes, computed on the index with the expression's own double arithmetic."""
    t = np.asarray(index.pts, dtype=np.float64) * (index.time_base.numerator / index.time_base.denominator)
    if spec.mode == "fps":
        steps = np.floor((t - t[0]) * float(f"{spec.value:g}") + _GRID_EPS)
        positions = [0, *(np.flatnonzero(np.diff(steps) > 0) + 1).tolist()]
    elif spec.mode == "every":
        positions = list(range(0, len(t), int(spec.value)))
    else:
        targets = [float(f"{target:.6f}") for target in _uniform_targets(spec, info)]
        positions = sorted({int(i) for i in np.searchsorted(t, targets, side="left") if i < len(t)})
    return positions[: spec.max_frames] if spec.max_frames is not None else positions


def plan_segments(positions: list[int], index: FrameIndex, decode_s_per_frame: float) -> list[Segment]:
    """Group the sample positions into ffmpeg runs. Before each sample, the frames
    from the previous sample (or the start) to the keyframe before it are not
    needed: they are dropped where the index allows it, else decoded; a new run
    seeking to that keyframe starts when skipping them that way would cost more
    than ``SEEK_START_S``."""
    runs: list[_Run] = []
    keys = index.keyframe_positions
    for pos in positions:
        key = bisect.bisect_right(keys, pos) - 1
        last = runs[-1].positions[-1] if runs else -1
        gap = range(last + 1, keys[key])
        droppable = len(gap) > 0 and index.droppable_before(key)
        if len(gap) > 0 and _skip_cost_s(index, gap, droppable, decode_s_per_frame) >= SEEK_START_S:
            runs.append(_Run(key))
        else:
            if not runs:
                runs.append(_Run(-1))
            if droppable:
                runs[-1].drops.append((index.dts[last] if last >= 0 else None, index.dts[keys[key]]))
        runs[-1].positions.append(pos)
    return [run.segment(index) for run in runs]


@dataclass
class _Run:
    key: int  # the keyframe number the run seeks to; -1: the file start
    positions: list[int] = field(default_factory=list)
    drops: list[tuple[int | None, int]] = field(default_factory=list)

    def segment(self, index: FrameIndex) -> Segment:
        seek_s = _seek_s(index, self.key) if self.key >= 0 else None
        return Segment(seek_s, tuple(index.pts[p] for p in self.positions), tuple(self.drops))


def _skip_cost_s(index: FrameIndex, gap: range, droppable: bool, decode_s_per_frame: float) -> float:
    """Seconds to get past the frames of ``gap`` inside a run: reading them if their
    packets are dropped, else decoding them."""
    if droppable:
        return len(gap) * DEMUX_S_PER_PACKET + sum(index.sizes[gap.start : gap.stop]) * READ_S_PER_BYTE
    return len(gap) * decode_s_per_frame


def _seek_s(index: FrameIndex, key: int) -> float:
    """The -ss value that lands on keyframe number ``key``: past ffmpeg's B-frame
    margin, before the next keyframe's dts, relative to the container start."""
    at_s = index.seconds(index.pts[index.keyframe_positions[key]]) + SEEK_SLACK_S
    if key + 1 < len(index.keyframe_dts):
        at_s = min(at_s, index.seconds(index.keyframe_dts[key + 1]) - SEEK_MARGIN_S)
    return round(at_s - index.start_time_s, 6)


def segment_command(path: Path, segment: Segment) -> list[str]:
    """The ffmpeg argv for one run of a sampling plan (built by ffmpeg-python)."""
    input_kwargs: dict[str, object] = {}
    if segment.seek_s is not None:
        input_kwargs.update(ss=f"{segment.seek_s:.6f}", noaccurate_seek=None)
    if (drop := segment.drop_expr()) is not None:
        input_kwargs["bsf:v"] = f"noise=drop='{drop}'"
    stream = ffmpeg.input(str(path), **input_kwargs).video
    stream = stream.filter("select", sum_expr([f"eq(pts,{pts})" for pts in segment.pts])).filter("showinfo")
    output_kwargs = {**_OUTPUT_KWARGS, "frames:v": len(segment.pts)}
    out = ffmpeg.output(stream, "pipe:", **output_kwargs).global_args("-nostdin", "-hide_banner")
    return out.compile(cmd=ffmpeg_exe())


def _seek_frames(path: Path, spec: SampleSpec, info: ProbeInfo, segments: tuple[Segment, ...], deadline: Deadline | None) -> Iterator[Frame]:
    done: list[float] = []
    try:
        for segment in segments:
            with contextlib.closing(_segment_frames(path, segment, deadline)) as frames:
                for image, pts_s in frames:
                    yield Frame(index=len(done), pts_s=pts_s, image_rgb=image)
                    done.append(pts_s)
    except _PlanMismatch:
        with contextlib.closing(_resume_full_pass(path, spec, info, deadline, done)) as rest:
            yield from rest


def _segment_frames(path: Path, segment: Segment, deadline: Deadline | None) -> Iterator[tuple[np.ndarray, float]]:
    """The planned frames of one run; raises _PlanMismatch when ffmpeg gives others or fewer."""
    got = 0
    try:
        with contextlib.closing(_ffmpeg_frames(segment_command(path, segment), Path(path).name, deadline)) as frames:
            for image, pts, pts_s in frames:
                if got >= len(segment.pts) or pts != segment.pts[got]:
                    raise _PlanMismatch
                got += 1
                yield image, pts_s
    except MediaError as exc:
        raise _PlanMismatch from exc
    if got != len(segment.pts):
        raise _PlanMismatch


def _resume_full_pass(path: Path, spec: SampleSpec, info: ProbeInfo, deadline: Deadline | None, done: list[float]) -> Iterator[Frame]:
    """The full pass, from the frame after the ``done`` ones (which it must agree with)."""
    name = Path(path).name
    with contextlib.closing(_ffmpeg_frames(build_command(path, spec, info), name, deadline)) as frames:
        for index, (image, _, pts_s) in enumerate(frames):
            if index < len(done):
                if pts_s != done[index]:
                    raise MediaError(f"{name}: seeking and a full decode disagree on sample {index} ({done[index]} s, {pts_s} s)")
                continue
            yield Frame(index=index, pts_s=pts_s, image_rgb=image)


def prefetch(frames: Iterator[Frame], depth: int) -> Iterator[Frame]:
    """``frames`` decoded ahead on a thread, at most ``depth`` waiting, so decoding
    (ffmpeg, and reading its pipe) overlaps the caller's work on the current frame.
    Errors reach the caller in order; closing this closes ``frames``."""
    if depth < 1:
        yield from frames
        return
    ahead = _Prefetcher(frames, depth)
    try:
        yield from ahead
    finally:
        ahead.stop()


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
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
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
        self._pts: list[tuple[int, float]] = []
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
                    self._pts.append((int(match.group(2)), float(match.group(3))))
                    self._cond.notify_all()
                elif line.strip():
                    self._tail = (self._tail + [line.strip()])[-5:]
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def pts_of(self, index: int) -> tuple[int, float] | None:
        """(pts in stream ticks, pts_s) of output frame ``index``; None when ffmpeg ended first."""
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
