"""The packet index of a video: every frame's pts, size and kind, read from the container's packets without decoding.

Sampling (:mod:`pipeline.media.seek`) plans from it what its samples do not need:
it seeks to the keyframe before a far sample, drops the packets between a sample
and the next IDR picture it needs, and drops the non-reference pictures that are
not sampled (no other picture is predicted from them, so the sampled pictures
decode the same without them).

What a packet is comes from its NAL unit headers (length-prefixed, as MP4/MOV and
Matroska store H.264 and HEVC):

- H.264: an IDR picture holds a NAL unit of type 5; a picture is non-reference
  when its slices have ``nal_ref_idc == 0``;
- HEVC: an IDR picture is NAL type 19 or 20; a picture is non-reference when its
  NAL type is a sub-layer non-reference one (``TRAIL_N``, ``TSA_N``, ``STSA_N``,
  ``RADL_N``, ``RASL_N``, reserved ``RSV_VCL_N10/12/14``: the even types below 16)
  *and* it sits in the highest temporal sub-layer of the stream (a sub-layer
  non-reference picture may still be a reference for higher sub-layers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pipeline.errors import MediaError, VideoTimeout
from pipeline.media.ffmpeg import Deadline
from pipeline.media.probe import open_confined

# Containers whose packets carry every frame's pts and whose keyframe flags mark
# random access points, and codecs whose decoding from such a keyframe gives the
# same pictures at and after it as decoding from the start.
INDEXED_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}
INDEXED_CODECS = {"h264", "hevc", "vp8", "vp9", "av1"}
# Where packets may be dropped by decode timestamp: the container stores every
# packet's dts (MP4/MOV: stts). Matroska stores pts only: its packets are dropped by pts.
DTS_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2"}
_H264_IDR_NAL = 5
_H264_VCL_NALS = range(1, 6)
_H264_NAL_TYPE_MASK = 0x1F
_HEVC_IDR_NALS = (19, 20)
_HEVC_VCL_NALS = range(0, 32)
_HEVC_SUBLAYER_NONREF_NALS = frozenset(range(0, 16, 2))


@dataclass(frozen=True)
class FrameIndex:
    """Every video frame of a file, from its packets, by position in presentation
    order: pts (sorted, in ``time_base`` units) and size in bytes; the keyframes'
    positions and dts (their pts where the container stores none, as Matroska
    may). ``dts`` (every frame's, same order) is empty unless the container stores
    it (MP4/MOV); ``keyframe_idr`` (whether each keyframe is an IDR picture) and
    ``nonref`` (whether each frame is a picture no other one is predicted from)
    are empty unless the codec's NAL units can be read (H.264, HEVC)."""

    time_base: Fraction
    start_time_s: float
    pts: tuple[int, ...]
    keyframe_positions: tuple[int, ...]
    keyframe_dts: tuple[int, ...]
    sizes: tuple[int, ...] = ()
    dts: tuple[int, ...] = ()
    keyframe_idr: tuple[bool, ...] = ()
    nonref: tuple[bool, ...] = ()

    def seconds(self, ticks: int) -> float:
        return ticks * self.time_base.numerator / self.time_base.denominator

    def droppable_before(self, key: int) -> bool:
        """Whether the packets before keyframe number ``key`` may be dropped (decode
        order known, and ``key`` an IDR picture: decoding restarts there)."""
        return bool(self.dts) and bool(self.keyframe_idr) and self.keyframe_idr[key]

    def drop_key(self, position: int) -> int:
        """The timestamp a packet filter tells the frame at ``position`` by: its dts where
        the container stores dts, else its pts (unique: the index refuses repeated pts)."""
        return self.dts[position] if self.dts else self.pts[position]

    @property
    def drop_variable(self) -> str:
        """The ``noise`` bitstream filter's variable :meth:`drop_key` values are compared with."""
        return "dts" if self.dts else "pts"


@dataclass(frozen=True)
class _Packet:
    pts: int | None
    dts: int | None
    size: int
    key: bool
    idr: bool
    nonref: bool  # a non-reference picture within its sub-layer
    sublayer: int  # HEVC TemporalId (0 for H.264)


@dataclass(frozen=True)
class _Nals:
    """What one access unit's NAL unit headers say."""

    idr: bool
    nonref: bool
    sublayer: int


_NalReader = Callable[[bytes], _Nals]


def frame_index(path: Path, deadline: Deadline | None = None) -> FrameIndex | None:
    """The frame index of ``path``, or None when its container or codec is not one
    whose packets can be trusted for seeking (see ``INDEXED_CONTAINERS``), or the
    packets are irregular (a packet without pts, two frames with one pts, a first
    frame that is no keyframe). Reads packets only: no decoding; raises
    :class:`VideoTimeout` when ``deadline`` passes while it reads."""
    import av  # imported when a file is opened (pipeline/media/probe.py says why)

    try:
        with open_confined(Path(path)) as container:
            if container.format.name not in INDEXED_CONTAINERS or not container.streams.video:
                return None
            stream = container.streams.video[0]
            if stream.codec_context.name not in INDEXED_CODECS or stream.time_base is None:
                return None
            reader = nal_reader(stream.codec_context.name, stream.codec_context.extradata or b"")
            packets = []
            for p in container.demux(stream):
                if deadline is not None and deadline.remaining_s() < 0:
                    raise VideoTimeout(f"{Path(path).name}: still indexing after the {deadline.timeout_s:g} s timeout")
                if p.size and not p.is_discard:
                    nals = reader(bytes(p)) if reader is not None else _Nals(False, False, 0)
                    packets.append(_Packet(p.pts, p.dts, p.size, p.is_keyframe, p.is_keyframe and nals.idr, nals.nonref, nals.sublayer))
            start_time_s = (container.start_time or 0) / av.time_base
            has_dts = container.format.name in DTS_CONTAINERS
            return _build_index(packets, Fraction(stream.time_base), start_time_s, has_dts=has_dts, has_nals=reader is not None)
    except (av.error.FFmpegError, MediaError, OSError):
        return None


def _build_index(packets: list[_Packet], time_base: Fraction, start_time_s: float, has_dts: bool, has_nals: bool) -> FrameIndex | None:
    if not packets or any(p.pts is None for p in packets):
        return None
    ordered = sorted(packets, key=lambda p: p.pts)
    pts = tuple(p.pts for p in ordered)
    if len(set(pts)) != len(pts) or not ordered[0].key:
        return None
    keys = [(i, p) for i, p in enumerate(ordered) if p.key]
    has_dts = has_dts and all(p.dts is not None for p in ordered)
    top = max(p.sublayer for p in ordered)
    return FrameIndex(
        time_base,
        start_time_s,
        pts,
        keyframe_positions=tuple(i for i, _ in keys),
        keyframe_dts=tuple(p.pts if p.dts is None else p.dts for _, p in keys),
        sizes=tuple(p.size for p in ordered),
        dts=tuple(p.dts for p in ordered) if has_dts else (),
        keyframe_idr=tuple(p.idr for _, p in keys) if has_nals else (),
        nonref=tuple(p.nonref and p.sublayer == top for p in ordered) if has_nals else (),
    )


def nal_reader(codec: str, extradata: bytes) -> _NalReader | None:
    """A reader of access units' NAL unit headers for ``codec`` stored length-prefixed
    (``extradata`` an avcC or hvcC record), or None (another codec or layout: Annex B)."""
    if codec == "h264" and len(extradata) >= 5 and extradata[0] == 1:
        length_size = (extradata[4] & 0x03) + 1  # avcC lengthSizeMinusOne
        return lambda data: _h264_nals(data, length_size)
    if codec == "hevc" and len(extradata) >= 23 and extradata[0] == 1:
        length_size = (extradata[21] & 0x03) + 1  # hvcC lengthSizeMinusOne
        return lambda data: _hevc_nals(data, length_size)
    return None


def _nal_units(data: bytes, length_size: int):
    """The first header bytes of each length-prefixed NAL unit of ``data``."""
    at = 0
    while at + length_size + 1 < len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        start = at + length_size
        yield data[start : start + 2]
        at = start + size


def _h264_nals(data: bytes, length_size: int) -> _Nals:
    """An H.264 access unit: IDR when it holds an IDR slice; non-reference when its slices
    all have ``nal_ref_idc`` 0 (no slice found: treated as a reference)."""
    idr, refs = False, set()
    for header in _nal_units(data, length_size):
        nal_type = header[0] & _H264_NAL_TYPE_MASK
        if nal_type in _H264_VCL_NALS:
            idr |= nal_type == _H264_IDR_NAL
            refs.add((header[0] >> 5) & 0x03)
    return _Nals(idr, refs == {0}, 0)


def _hevc_nals(data: bytes, length_size: int) -> _Nals:
    """An HEVC access unit: IDR by its slices' NAL type; non-reference when every slice is
    of a sub-layer non-reference type; its sub-layer (TemporalId) is its slices' highest."""
    idr, nonref, sublayer, slices = False, True, 0, 0
    for header in _nal_units(data, length_size):
        if len(header) < 2:
            continue
        nal_type = (header[0] >> 1) & 0x3F
        if nal_type in _HEVC_VCL_NALS:
            slices += 1
            idr |= nal_type in _HEVC_IDR_NALS
            nonref &= nal_type in _HEVC_SUBLAYER_NONREF_NALS
            sublayer = max(sublayer, (header[1] & 0x07) - 1)
    return _Nals(idr, nonref and slices > 0, sublayer)
