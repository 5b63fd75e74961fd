"""Sparse sampling: the ffmpeg runs that decode only what a spec's samples need.

For ``fps``, ``every`` and ``uniform`` without a time window, the frames the spec
selects are worked out beforehand from the container's packet index
(:func:`pipeline.media.index.frame_index`, every frame's pts, no decoding) with the
same arithmetic as the select expression. Between one sample and the keyframe
before the next:

- H.264 in MP4/MOV, when that keyframe is an IDR picture: the packets in between
  (in decode order, by their stored dts) are dropped before the decoder (input
  bitstream filter ``noise=drop``), which costs only reading them;
- when that costs more than starting a new ffmpeg run (a long gap, or no
  dropping), the new run seeks to the keyframe (``-ss``, no accurate-seek
  trimming);
- otherwise the frames in between are decoded, as in one pass.

Within each run, the non-reference pictures (H.264 ``nal_ref_idc`` 0, HEVC
sub-layer non-reference pictures of the top sub-layer: :mod:`pipeline.media.index`)
that are not sampled are dropped one by one (by dts, or by pts in Matroska): no
picture is predicted from them. On a 10 s GOP x264 clip with B-frames, 812 of
1800 frames; decoding for ``fps:1`` took 3.67 s against 5.73 s for a full decode
(bench/RESULTS.md, issue 17).

Each run's ``select`` takes the planned frames by exact pts. Decoding from a
keyframe (an IDR picture, where packets are dropped) gives the same pictures as
decoding from the start (only trusted containers and codecs are indexed), so the
frames, pixels and pts are the ones a single full pass gives; each run's output
pts are checked against the plan, and any disagreement falls back to the full pass.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg
import numpy as np

from pipeline.errors import MediaError
from pipeline.media.confine import ffmpeg_input
from pipeline.media.ffmpeg import OUTPUT_KWARGS, SHOWINFO_KWARGS, Deadline, Frame, ffmpeg_exe, run_frames
from pipeline.media.index import FrameIndex, frame_index
from pipeline.media.probe import ProbeInfo
from pipeline.media.spec import GRID_EPS, SampleSpec, build_command, sum_expr, uniform_targets

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
# Non-reference pictures a run drops one by one, at most (each adds about 16 bytes to
# ffmpeg's argv, whose single arguments Linux caps at 128 KiB): a plan that would drop
# more starts a new run at a keyframe.
MAX_SKIPS_PER_RUN = 3000
_MEMBER_LEAF_TERMS = 8


@dataclass(frozen=True)
class Segment:
    """One ffmpeg run of a sampling plan: seek to ``seek_s`` (ffmpeg's -ss value;
    None: decode from the start), drop the packets whose dts lie in the ``drop_dts``
    ranges (lo, hi), both exclusive (lo None: from the start), drop the single
    packets ``skip`` (non-reference pictures not sampled, told by their
    ``skip_by`` timestamp: dts or pts), and output the frames whose pts (stream
    ticks) are ``pts``."""

    seek_s: float | None
    pts: tuple[int, ...]
    drop_dts: tuple[tuple[int | None, int], ...] = ()
    skip: tuple[int, ...] = ()
    skip_by: str = "dts"

    def drop_expr(self) -> str | None:
        """The ``noise`` bitstream filter's drop expression, or None."""
        terms = [
            f"lt(dts,{hi})" if lo is None else f"between(dts,{lo + 1},{hi - 1})" for lo, hi in self.drop_dts if lo is None or hi - lo > 1
        ]
        if self.skip:
            terms.append(member_expr(self.skip_by, sorted(self.skip)))
        return sum_expr(terms) if terms else None


def member_expr(variable: str, values: list[int]) -> str:
    """An ffmpeg expression that is 1 when ``variable`` is one of the sorted ``values``, else 0:
    a balanced tree of ``if(lt(...))`` tests over short sums of ``eq`` terms, so a packet costs
    about log2(n) tests rather than n (``if`` evaluates only the branch taken)."""
    if len(values) <= _MEMBER_LEAF_TERMS:
        return "+".join(f"eq({variable},{v})" for v in values)
    mid = len(values) // 2
    return f"if(lt({variable},{values[mid]}),{member_expr(variable, values[:mid])},{member_expr(variable, values[mid:])})"


class _PlanMismatch(Exception):
    """A seeking run did not give the planned frames."""


def seek_plan(path: Path, spec: SampleSpec, info: ProbeInfo, deadline: Deadline | None = None) -> tuple[Segment, ...] | None:
    """The runs that sample ``spec`` on ``path`` skipping what is not needed; None when
    one plain full pass is as cheap or the file cannot be planned (no trusted index,
    a time window, keyframes, a still)."""
    if spec.mode not in ("fps", "every", "uniform") or info.is_image or spec.start_s > 0 or spec.end_s is not None:
        return None
    index = frame_index(path, deadline)
    if index is None:
        return None
    width, height = info.display_size_px
    segments = plan_segments(planned_positions(spec, info, index), index, DECODE_S_PER_PIXEL * max(width * height, 1))
    if len(segments) < 2 and all(seg.seek_s is None and not seg.drop_dts and not seg.skip for seg in segments):
        return None
    return tuple(segments)


def planned_positions(spec: SampleSpec, info: ProbeInfo, index: FrameIndex) -> list[int]:
    """Positions (in presentation order) of the frames ``spec``'s select expression
    takes, computed on the index with the expression's own double arithmetic."""
    t = np.asarray(index.pts, dtype=np.float64) * (index.time_base.numerator / index.time_base.denominator)
    if spec.mode == "fps":
        steps = np.floor((t - t[0]) * float(f"{spec.value:g}") + GRID_EPS)
        positions = [0, *(np.flatnonzero(np.diff(steps) > 0) + 1).tolist()]
    elif spec.mode == "every":
        positions = list(range(0, len(t), int(spec.value)))
    else:
        targets = [float(f"{target:.6f}") for target in uniform_targets(spec, info)]
        positions = sorted({int(i) for i in np.searchsorted(t, targets, side="left") if i < len(t)})
    return positions[: spec.max_frames] if spec.max_frames is not None else positions


def plan_segments(positions: list[int], index: FrameIndex, decode_s_per_frame: float) -> list[Segment]:
    """Group the sample positions into ffmpeg runs. Before each sample, the frames
    from the previous sample (or the start) to the keyframe before it are not
    needed: they are dropped where the index allows it, else decoded; a new run
    seeking to that keyframe starts when skipping them that way would cost more
    than ``SEEK_START_S``. Within a run, the non-reference pictures that are not
    sampled are dropped one by one."""
    runs: list[_Run] = []
    keys = index.keyframe_positions
    wanted = frozenset(positions)
    for pos in positions:
        key = bisect.bisect_right(keys, pos) - 1
        last = runs[-1].positions[-1] if runs else -1
        gap = range(last + 1, keys[key])
        droppable = len(gap) > 0 and index.droppable_before(key)
        skips = _nonref(index, range(keys[key] if droppable else last + 1, pos), wanted)
        full = bool(runs) and len(runs[-1].skips) + len(skips) > MAX_SKIPS_PER_RUN
        if len(gap) > 0 and (full or _skip_cost_s(index, gap, droppable, decode_s_per_frame) >= SEEK_START_S):
            runs.append(_Run(key))
            skips = _nonref(index, range(keys[key], pos), wanted)
        else:
            if not runs:
                runs.append(_Run(-1))
            if droppable:
                runs[-1].drops.append((index.dts[last] if last >= 0 else None, index.dts[keys[key]]))
        runs[-1].skips += skips[: max(MAX_SKIPS_PER_RUN - len(runs[-1].skips), 0)]
        runs[-1].positions.append(pos)
    return [run.segment(index) for run in runs]


@dataclass
class _Run:
    key: int  # the keyframe number the run seeks to; -1: the file start
    positions: list[int] = field(default_factory=list)
    drops: list[tuple[int | None, int]] = field(default_factory=list)
    skips: list[int] = field(default_factory=list)  # positions of non-reference pictures to drop

    def segment(self, index: FrameIndex) -> Segment:
        seek_s = _seek_s(index, self.key) if self.key >= 0 else None
        skip = tuple(index.drop_key(p) for p in self.skips)
        return Segment(seek_s, tuple(index.pts[p] for p in self.positions), tuple(self.drops), skip, index.drop_variable)


def _nonref(index: FrameIndex, span: range, wanted: frozenset[int]) -> list[int]:
    """The positions in ``span`` of non-reference pictures that are not sampled."""
    if not index.nonref:
        return []
    return [p for p in span if index.nonref[p] and p not in wanted]


def _skip_cost_s(index: FrameIndex, gap: range, droppable: bool, decode_s_per_frame: float) -> float:
    """Seconds to get past the frames of ``gap`` inside a run: reading them if their
    packets are dropped, else decoding them (but reading the non-reference ones, dropped)."""
    read_s = len(gap) * DEMUX_S_PER_PACKET + sum(index.sizes[gap.start : gap.stop]) * READ_S_PER_BYTE
    if droppable:
        return read_s
    decoded = len(gap) - len(_nonref(index, gap, frozenset()))
    return decoded * decode_s_per_frame + (len(gap) - decoded) / max(len(gap), 1) * read_s


def _seek_s(index: FrameIndex, key: int) -> float:
    """The -ss value that lands on keyframe number ``key``: past ffmpeg's B-frame
    margin, before the next keyframe's dts, relative to the container start."""
    at_s = index.seconds(index.pts[index.keyframe_positions[key]]) + SEEK_SLACK_S
    if key + 1 < len(index.keyframe_dts):
        at_s = min(at_s, index.seconds(index.keyframe_dts[key + 1]) - SEEK_MARGIN_S)
    return round(at_s - index.start_time_s, 6)


def segment_command(path: Path, segment: Segment, container: str = "") -> list[str]:
    """The ffmpeg argv for one run of a sampling plan (built by ffmpeg-python)."""
    url, input_kwargs = ffmpeg_input(path, container)
    if segment.seek_s is not None:
        input_kwargs.update(ss=f"{segment.seek_s:.6f}", noaccurate_seek=None)
    if (drop := segment.drop_expr()) is not None:
        input_kwargs["bsf:v"] = f"noise=drop='{drop}'"
    stream = ffmpeg.input(url, **input_kwargs).video
    stream = stream.filter("select", sum_expr([f"eq(pts,{pts})" for pts in segment.pts])).filter("showinfo", **SHOWINFO_KWARGS)
    output_kwargs = {**OUTPUT_KWARGS, "frames:v": len(segment.pts)}
    out = ffmpeg.output(stream, "pipe:", **output_kwargs).global_args("-nostdin", "-hide_banner")
    return out.compile(cmd=ffmpeg_exe())


def seek_frames(path: Path, spec: SampleSpec, info: ProbeInfo, segments: tuple[Segment, ...], deadline: Deadline | None) -> Iterator[Frame]:
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
        with contextlib.closing(run_frames(segment_command(path, segment), Path(path).name, deadline)) as frames:
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
    with contextlib.closing(run_frames(build_command(path, spec, info), name, deadline)) as frames:
        for index, (image, _, pts_s) in enumerate(frames):
            if index < len(done):
                if pts_s != done[index]:
                    raise MediaError(f"{name}: seeking and a full decode disagree on sample {index} ({done[index]} s, {pts_s} s)")
                continue
            yield Frame(index=index, pts_s=pts_s, image_rgb=image)
