"""Probe a media file in-process with PyAV (libav*), without spawning ffprobe.

imageio-ffmpeg ships ``ffmpeg`` but not ``ffprobe``, and parsing ``ffmpeg -i``
text is brittle, so probing opens the container with PyAV, reads the stream
parameters and decodes the first video frame (which also proves the stream is
decodable and yields its display rotation).

The packet index that sparse sampling plans from is :mod:`pipeline.media.index`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import MediaError
from pipeline.media.confine import InputGuard, demuxer_allowed, refuse_demuxer
from pipeline.records import MediaInfo
from schemas.manifests import TIMELINE_SLACK_FRAMES, TIMELINE_SLACK_SHARE

if TYPE_CHECKING:
    import av

    _Stream = av.video.stream.VideoStream
# PyAV (0.08 s to import) is imported by the functions that open files: a run probes in a
# child process (pipeline.media.isolate), and its own process opens videos only to index
# them (pipeline.media.index), so a run on stills never imports it here.

# The largest picture probed or decoded (extract.max_pixels): a 16000x16000 PNG of
# 249 KB took 769 MB to open (measured: av.open alone, ru_maxrss), 3 bytes a pixel.
DEFAULT_MAX_PIXELS = 100_000_000

# Demuxers that hold one still picture; ffmpeg probes them by content.
_IMAGE_FORMAT_SUFFIX = "_pipe"
_IMAGE_FORMATS = {"image2", "webp_pipe", "png_pipe", "jpeg_pipe"}


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
