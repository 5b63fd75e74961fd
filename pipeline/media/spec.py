"""Sampling specs, and the ffmpeg command that decodes what a spec selects.

Specs: ``fps:N`` (first frame at or after each 1/N s step of a grid anchored on the
first decoded frame; drift-free, correct on variable frame rate), ``every:N``
(every Nth decoded frame), ``uniform:K`` (the first frame at or after each of K
times spread evenly over [start, end)), ``keyframes`` (I-frames only, decoded with
``-skip_frame nokey``). ``max_frames``, ``start_s`` and ``end_s`` bound any spec.
The command's ``select`` filter takes the frames; ``showinfo`` reports their pts;
``-copyts`` keeps the source timestamps and ``-fps_mode passthrough`` stops ffmpeg
padding duplicate frames (the runner is :mod:`pipeline.media.ffmpeg`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.media.confine import ffmpeg_input
from pipeline.media.ffmpeg import OUTPUT_KWARGS, SHOWINFO_KWARGS, ffmpeg_exe
from pipeline.media.probe import ProbeInfo

_SPEC_RE = re.compile(r"^(fps|every|uniform):([0-9]*\.?[0-9]+)$|^keyframes$")
# Guards floor() on times that are an exact multiple of the step.
GRID_EPS = 1e-6
# ffmpeg's parser refuses a flat sum of more than 100 terms.
_FLAT_SUM_TERMS = 64


@dataclass(frozen=True)
class SampleSpec:
    """A parsed sampling spec. ``value`` is N or K; None for keyframes."""

    mode: str
    value: float | None
    max_frames: int | None = None
    start_s: float = 0.0
    end_s: float | None = None

    @classmethod
    def parse(cls, spec: str, *, max_frames: int | None = None, start_s: float = 0.0, end_s: float | None = None) -> SampleSpec:
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


def build_command(path: Path, spec: SampleSpec, info: ProbeInfo) -> list[str]:
    """The ffmpeg argv for ``spec`` on ``path`` (built by ffmpeg-python)."""
    input_kwargs: dict[str, object] = {}
    if spec.mode == "keyframes":
        input_kwargs["skip_frame"] = "nokey"
    if spec.start_s > 0 and not info.is_image:
        input_kwargs["ss"] = spec.start_s
    if spec.end_s is not None and not info.is_image:
        input_kwargs["to"] = spec.end_s
    url, confine = ffmpeg_input(path, info.container)
    stream = ffmpeg.input(url, **confine, **input_kwargs).video
    select = _select_expr(spec, info)
    if select:
        stream = stream.filter("select", select)
    stream = stream.filter("showinfo", **SHOWINFO_KWARGS)
    output_kwargs: dict[str, object] = dict(OUTPUT_KWARGS)
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
        step = f"floor((t-start_t)*{spec.value:g}+{GRID_EPS})"
        prev = f"floor((prev_selected_t-start_t)*{spec.value:g}+{GRID_EPS})"
        rule = f"isnan(prev_selected_t)+gt({step},{prev})"
    elif spec.mode == "every":
        rule = f"not(mod(n,{int(spec.value)}))"
    elif spec.mode == "uniform":
        rule = _uniform_rule(spec, info)
    else:
        rule = None
    parts = window + ([f"gt({rule},0)"] if rule else [])
    return "*".join(parts) if parts else None


def uniform_targets(spec: SampleSpec, info: ProbeInfo) -> list[float]:
    count = int(spec.value)
    t0 = max(spec.start_s, info.first_pts_s)
    t1 = info.first_pts_s + info.duration_s if spec.end_s is None else min(spec.end_s, info.first_pts_s + info.duration_s)
    span = max(t1 - t0, 0.0)
    # Floored to the microsecond so a frame lying exactly on a target is not missed.
    return sorted({math.floor((t0 + span * k / count) * 1e6) / 1e6 for k in range(count)})


def _uniform_rule(spec: SampleSpec, info: ProbeInfo) -> str:
    # The first frame at or after each target; a frame that answers several targets is taken once.
    terms = [f"gte(t,{t:.6f})*(isnan(prev_selected_t)+lt(prev_selected_t,{t:.6f}))" for t in uniform_targets(spec, info)]
    return sum_expr(terms)


def sum_expr(terms: list[str]) -> str:
    """``terms`` added up in one ffmpeg expression. ffmpeg's parser refuses a flat sum
    of more than 100 terms, so longer sums nest as a balanced tree (same value: the
    terms are small whole numbers, exact in any order)."""
    if len(terms) <= _FLAT_SUM_TERMS:
        return "+".join(terms)
    mid = len(terms) // 2
    return f"({sum_expr(terms[:mid])})+({sum_expr(terms[mid:])})"
