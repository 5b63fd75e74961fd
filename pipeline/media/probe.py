"""Probe a media file in-process with PyAV (libav*), without spawning ffprobe.

imageio-ffmpeg ships ``ffmpeg`` but not ``ffprobe``, and parsing ``ffmpeg -i``
text is brittle, so probing opens the container with PyAV, reads the stream
parameters and decodes the first video frame (which also proves the stream is
decodable and yields its display rotation).

:func:`frame_index` lists every video frame's presentation time and the
keyframes from the container's packets, without decoding: sampling uses it to
skip what its samples do not need (``pipeline.media.seek``): it seeks to the
keyframe before a far sample, and drops the packets between a sample and the
next IDR picture it needs (H.264 in MP4/MOV, whose decode timestamps are stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import MediaError, VideoTimeout
from pipeline.media.confine import InputGuard, demuxer_allowed, refuse_demuxer
from pipeline.media.ffmpeg import Deadline
from pipeline.records import MediaInfo
from schemas.manifests import TIMELINE_SLACK_FRAMES, TIMELINE_SLACK_SHARE

if TYPE_CHECKING:
    import av

    _Stream = av.video.stream.VideoStream
# PyAV (0.08 s to import) is imported by the functions that open files: a run probes in a
# child process (pipeline.media.isolate), and its own process opens videos only to index
# them (frame_index), so a run on stills never imports it here.

# The largest picture probed or decoded (extract.max_pixels): a 16000x16000 PNG of
# 249 KB took 769 MB to open (measured: av.open alone, ru_maxrss), 3 bytes a pixel.
DEFAULT_MAX_PIXELS = 100_000_000

# Demuxers that hold one still picture; ffmpeg probes them by content.
_IMAGE_FORMAT_SUFFIX = "_pipe"
_IMAGE_FORMATS = {"image2", "webp_pipe", "png_pipe", "jpeg_pipe"}
# Containers whose packets carry every frame's pts and whose keyframe flags mark
# random access points, and codecs whose decoding from such a keyframe gives the
# same pictures at and after it as decoding from the start.
INDEXED_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}
INDEXED_CODECS = {"h264", "hevc", "vp8", "vp9", "av1"}
# Where packets may also be dropped before the decoder: the container stores every
# packet's dts (MP4/MOV: stts), and IDR pictures can be told from the bitstream.
DTS_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2"}
_H264_IDR_NAL = 5
_H264_NAL_TYPE_MASK = 0x1F


@dataclass(frozen=True)
class ProbeInfo:
    """What a media file holds. Sizes are the coded size, before rotation."""

    container: str
    video_codec: str
    width_px: int
    height_px: int
    duration_s: float
    fps: float
    frame_count: int
    rotation_deg: int
    first_pts_s: float
    has_audio: bool
    is_image: bool

    @property
    def display_size_px(self) -> tuple[int, int]:
        """(width, height) after rotation metadata is applied."""
        if self.rotation_deg % 180:
            return self.height_px, self.width_px
        return self.width_px, self.height_px

    def media_info(self) -> MediaInfo:
        """The manifest's media fields (displayed size)."""
        width, height = self.display_size_px
        return MediaInfo(
            self.container,
            self.video_codec,
            width,
            height,
            self.rotation_deg,
            self.duration_s,
            self.fps,
            self.frame_count,
            self.has_audio,
            self.is_image,
        )


def probe(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ProbeInfo:
    """Probe ``path``; raise :class:`MediaError` naming the file and the reason. Only ``path``
    itself is opened (:mod:`pipeline.media.confine`), pictures over ``max_pixels`` are
    refused before they are decoded, and the duration and frame count are checked
    against each other (counted from the packets when the header has no count)."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from exc
    if size == 0:
        raise MediaError(f"{name}: empty file (0 bytes)")
    with _open(path, max_pixels) as container:
        if not demuxer_allowed(container.format.name):
            raise refuse_demuxer(name, container.format.name)
        if not container.streams.video:
            raise MediaError(f"{name}: no video stream (format {container.format.name})")
        stream = container.streams.video[0]
        _check_pixels(path, stream.codec_context.width, stream.codec_context.height, max_pixels)
        first = _first_frame(name, container, stream)
        fmt = container.format.name
        is_image = fmt in _IMAGE_FORMATS or fmt.endswith(_IMAGE_FORMAT_SUFFIX)
        rate = stream.average_rate or stream.guessed_rate
        fps = 0.0 if is_image or not rate else float(rate)
        duration_s, frames = (0.0, 1) if is_image else _timeline(path, container, stream, fps, max_pixels)
        return ProbeInfo(
            container=fmt,
            video_codec=stream.codec_context.name,
            width_px=stream.codec_context.width,
            height_px=stream.codec_context.height,
            duration_s=duration_s,
            fps=fps,
            frame_count=int(frames),
            rotation_deg=int(first.rotation or 0) % 360,
            first_pts_s=float(first.time or 0.0),
            has_audio=bool(container.streams.audio),
            is_image=is_image,
        )


def open_confined(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> av.container.InputContainer:
    """``av.open`` that reads ``path`` only, refuses other files, and decodes no picture over
    ``max_pixels``. Raises :class:`MediaError` naming the file and the reason."""
    import av

    guard = InputGuard(path)
    try:
        return av.open(str(path), io_open=guard.open, options={"max_pixels": str(max_pixels)})
    except (av.error.FFmpegError, OSError) as exc:
        guard.check(path.name)
        if isinstance(exc, av.error.EOFError):
            raise MediaError(f"{path.name}: ends before any frame could be read (a track with no frames, or a truncated file)") from exc
        reason = _reason(exc) if isinstance(exc, av.error.FFmpegError) else (exc.strerror or type(exc).__name__)
        raise MediaError(f"{path.name}: not a readable video or image ({reason})") from exc


_open = open_confined


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    """Refuse a picture over ``max_pixels``. A decoder that refused one reports size 0: the
    header says how large it is (a size still unknown is left to the decode to report)."""
    size = (width, height) if width > 0 and height > 0 else _header_size(path)
    if size is not None and size[0] * size[1] > max_pixels:
        shown = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels"
        raise MediaError(f"{path.name}: picture too large ({shown}; limit {max_pixels:,} pixels, extract.max_pixels)")


def _header_size(path: Path) -> tuple[int, int] | None:
    """A still's size from its header alone (decoders refuse pictures over the limit, so
    they do not say how large one is)."""
    from PIL import Image

    try:
        Image.MAX_IMAGE_PIXELS = None  # the header only: nothing is decoded
        with Image.open(path) as image:
            return image.size
    except Exception:  # any unreadable header: size unknown
        return None


def _first_frame(name: str, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> av.VideoFrame:
    import av

    try:
        first = next(container.decode(stream), None)
    except av.error.EOFError:
        first = None
    except (av.error.FFmpegError, OSError) as exc:
        reason = _reason(exc) if isinstance(exc, av.error.FFmpegError) else (exc.strerror or type(exc).__name__)
        raise MediaError(f"{name}: first video frame does not decode ({reason})") from exc
    if first is None:
        raise MediaError(f"{name}: the video stream holds no decodable frame (a track with no frames, or frames that do not decode)")
    return first


def _timeline(path: Path, container: av.container.InputContainer, stream: _Stream, fps: float, max_pixels: int) -> tuple[float, int]:
    """(duration_s, frames) of a video stream: the header's when it holds a frame count that
    agrees with its duration and rate, else counted from the packets (transport streams
    and raw streams have no count; timestamps that jump make the header's duration wrong)."""
    duration_s = _duration_s(container, stream)
    if stream.frames and plausible(duration_s, fps, stream.frames):
        return duration_s, stream.frames
    with _open(path, max_pixels) as again:
        video = again.streams.video[0]
        packets = [p.pts for p in again.demux(video) if p.size]
    frames = len(packets)
    pts = [p for p in packets if p is not None]
    if not fps or len(pts) < frames:  # a raw stream: no timestamps, the rate is ffmpeg's
        return (frames / fps if fps else 0.0), frames
    span_s = (max(pts) - min(pts)) * float(video.time_base) + 1 / fps if pts else 0.0
    monotonic = all(b > a for a, b in zip(pts, pts[1:]))
    if not (monotonic and plausible(span_s, fps, frames)):
        return frames / fps, frames  # timestamps jump (back or far ahead): the count is what is known
    return span_s, frames


def plausible(duration_s: float, fps: float, frames: int) -> bool:
    """Whether a duration, an average rate and a frame count can describe one stream."""
    if fps <= 0 or duration_s < 0:
        return False
    return abs(duration_s * fps - frames) <= max(TIMELINE_SLACK_FRAMES, TIMELINE_SLACK_SHARE * frames)


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    import av

    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _reason(exc: av.error.FFmpegError) -> str:
    import av

    if isinstance(exc, av.error.EOFError):
        return "ends early: End of file"
    # The strerror is stable across runs; str(exc) also holds the temp path.
    return exc.strerror or type(exc).__name__


@dataclass(frozen=True)
class FrameIndex:
    """Every video frame of a file, from its packets, by position in presentation
    order: pts (sorted, in ``time_base`` units) and size in bytes; the keyframes'
    positions and dts (their pts where the container stores none, as Matroska
    may). ``dts`` (every frame's, same order) and ``keyframe_idr`` (whether each
    keyframe is an IDR picture) are empty unless packets may be dropped (H.264 in
    MP4/MOV)."""

    time_base: Fraction
    start_time_s: float
    pts: tuple[int, ...]
    keyframe_positions: tuple[int, ...]
    keyframe_dts: tuple[int, ...]
    sizes: tuple[int, ...] = ()
    dts: tuple[int, ...] = ()
    keyframe_idr: tuple[bool, ...] = ()

    def seconds(self, ticks: int) -> float:
        return ticks * self.time_base.numerator / self.time_base.denominator

    def droppable_before(self, key: int) -> bool:
        """Whether the packets before keyframe number ``key`` may be dropped (decode
        order known, and ``key`` an IDR picture: decoding restarts there)."""
        return bool(self.dts) and self.keyframe_idr[key]


def frame_index(path: Path, deadline: Deadline | None = None) -> FrameIndex | None:
    """The frame index of ``path``, or None when its container or codec is not one
    whose packets can be trusted for seeking (see ``INDEXED_CONTAINERS``), or the
    packets are irregular (a packet without pts, two frames with one pts, a first
    frame that is no keyframe). Reads packets only: no decoding; raises
    :class:`VideoTimeout` when ``deadline`` passes while it reads."""
    import av

    try:
        with open_confined(Path(path)) as container:
            if container.format.name not in INDEXED_CONTAINERS or not container.streams.video:
                return None
            stream = container.streams.video[0]
            if stream.codec_context.name not in INDEXED_CODECS or stream.time_base is None:
                return None
            idr = _idr_test(container.format.name, stream)
            packets = []
            for p in container.demux(stream):
                if deadline is not None and deadline.remaining_s() < 0:
                    raise VideoTimeout(f"{Path(path).name}: still indexing after the {deadline.timeout_s:g} s timeout")
                if p.size and not p.is_discard:
                    packets.append(_Packet(p.pts, p.dts, p.size, p.is_keyframe, p.is_keyframe and idr(p)))
            start_time_s = (container.start_time or 0) / av.time_base
            return _build_index(packets, Fraction(stream.time_base), start_time_s, droppable=idr is not _never)
    except (av.error.FFmpegError, MediaError, OSError):
        return None


@dataclass(frozen=True)
class _Packet:
    pts: int | None
    dts: int | None
    size: int
    key: bool
    idr: bool


def _build_index(packets: list[_Packet], time_base: Fraction, start_time_s: float, droppable: bool) -> FrameIndex | None:
    if not packets or any(p.pts is None for p in packets):
        return None
    ordered = sorted(packets, key=lambda p: p.pts)
    pts = tuple(p.pts for p in ordered)
    if len(set(pts)) != len(pts) or not ordered[0].key:
        return None
    keys = [(i, p) for i, p in enumerate(ordered) if p.key]
    has_dts = droppable and all(p.dts is not None for p in ordered)
    return FrameIndex(
        time_base,
        start_time_s,
        pts,
        keyframe_positions=tuple(i for i, _ in keys),
        keyframe_dts=tuple(p.pts if p.dts is None else p.dts for _, p in keys),
        sizes=tuple(p.size for p in ordered),
        dts=tuple(p.dts for p in ordered) if has_dts else (),
        keyframe_idr=tuple(p.idr for _, p in keys) if has_dts else (),
    )


def _never(packet: av.Packet) -> bool:
    return False


def _idr_test(container_format: str, stream: av.video.stream.VideoStream):
    """A test for IDR keyframe packets where packets may be dropped (H.264 in MP4/MOV,
    length-prefixed NAL units), else one that says no."""
    extradata = stream.codec_context.extradata or b""
    if container_format not in DTS_CONTAINERS or stream.codec_context.name != "h264" or len(extradata) < 5 or extradata[0] != 1:
        return _never
    length_size = (extradata[4] & 0x03) + 1  # avcC lengthSizeMinusOne
    return lambda packet: _h264_has_idr(bytes(packet), length_size)


def _h264_has_idr(data: bytes, length_size: int) -> bool:
    """Whether an access unit (length-prefixed NAL units) holds an IDR slice."""
    at = 0
    while at + length_size < len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        if data[at + length_size] & _H264_NAL_TYPE_MASK == _H264_IDR_NAL:
            return True
        at += length_size + size
    return False
