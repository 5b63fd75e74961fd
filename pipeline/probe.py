"""Probe a media file in-process with PyAV (libav*), without spawning ffprobe.

imageio-ffmpeg ships ``ffmpeg`` but not ``ffprobe``, and parsing ``ffmpeg -i``
text is brittle, so probing opens the container with PyAV, reads the stream
parameters and decodes the first video frame (which also proves the stream is
decodable and yields its display rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

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


def probe(path: Path) -> ProbeInfo:
    """Probe ``path``; raise :class:`MediaError` naming the file and the reason."""
    from pipeline.errors import MediaError

    path = Path(path)
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name}: not a readable video or image ({_reason(exc)})") from exc
    with container:
        if not container.streams.video:
            raise MediaError(f"{path.name}: no video stream (format {container.format.name})")
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path.name}: first video frame does not decode ({_reason(exc)})") from exc
        if first is None:
            raise MediaError(f"{path.name}: video stream holds no decodable frame")
        fmt = container.format.name
        is_image = fmt in _IMAGE_FORMATS or fmt.endswith(_IMAGE_FORMAT_SUFFIX)
        rate = stream.average_rate or stream.guessed_rate
        duration_s = _duration_s(container, stream)
        frames = stream.frames or (1 if is_image else round(duration_s * float(rate or 0)))
        return ProbeInfo(
            container=fmt,
            video_codec=stream.codec_context.name,
            width_px=stream.codec_context.width,
            height_px=stream.codec_context.height,
            duration_s=0.0 if is_image else duration_s,
            fps=0.0 if is_image or not rate else float(rate),
            frame_count=int(frames),
            rotation_deg=int(first.rotation or 0) % 360,
            first_pts_s=float(first.time or 0.0),
            has_audio=bool(container.streams.audio),
            is_image=is_image,
        )


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _reason(exc: av.error.FFmpegError) -> str:
    # The strerror is stable across runs; str(exc) also holds the temp path.
    return exc.strerror or type(exc).__name__
