"""Keep the demuxers inside the one file they are given (probe with PyAV, decode with ffmpeg).

Some of ffmpeg's demuxers open other files or URLs named inside the input: ``hls``
(playlist segments), ``dash`` (manifest segments), ``concat`` (a list of files),
``image2`` (a name pattern such as ``img%03d.png`` or a glob opens a sequence),
``mov`` (external data references, when ``enable_drefs`` is on), ``imf`` (a
composition's assets), ``avisynth``/``vapoursynth`` (scripts), ``sdp``/``rtsp``/``rtp``
(network sessions), ``lavfi`` (a filter graph: ``movie=`` opens files). How that
was decided: the PyAV guard below (``InputGuard``) refuses and records every open
other than the input itself, whatever the demuxer; the hostile-corpus tests feed
hls, concat, image2 patterns and a mov with a data reference through it; the rest of
the list comes from the demuxers in ffmpeg's libavformat that call ``io_open``/
``avio_open`` or take a URL. Rather than deny those, both paths allow only the
demuxers a face corpus needs, which read their one file and nothing else:

- probe (PyAV): every open goes through ``InputGuard.open`` (a Python file object for
  the input path, an error naming the URL for anything else); a demuxer not in
  :data:`ALLOWED_DEMUXERS` is refused with its name;
- decode (ffmpeg): ``-protocol_whitelist file`` and ``-format_whitelist`` (the same
  list) on the input, ``file:`` before its path (a name like ``concat:a|b`` is then a
  file name, not a protocol), and ``-pattern_type none`` for ``image2``.
"""

from __future__ import annotations

import io
from pathlib import Path

from pipeline.errors import MediaError

# Demuxers that read only the file they are given (ffmpeg short names).
ALLOWED_DEMUXERS = frozenset(
    {
        "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "mpegts", "mpeg", "mpegvideo",
        "flv", "asf", "ogg", "ivf", "obu", "h264", "hevc", "vvc", "m4v", "h261", "h263", "mjpeg", "nut",
        "yuv4mpegpipe", "gif", "apng", "image2",
        "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe", "jpegls_pipe",
        "jpegxl_pipe", "pgm_pipe", "ppm_pipe", "pam_pipe", "pbm_pipe", "qoi_pipe", "dpx_pipe", "exr_pipe",
        "j2k_pipe", "psd_pipe", "sgi_pipe", "sunrast_pipe", "xbm_pipe", "xpm_pipe", "hdr_pipe", "dds_pipe",
    }
)  # fmt: skip
PROTOCOLS = "file"


def demuxer_allowed(format_name: str) -> bool:
    """Whether a demuxer (PyAV's name, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``) is on the allow-list."""
    return any(name in ALLOWED_DEMUXERS for name in format_name.split(","))


def refuse_demuxer(name: str, format_name: str) -> MediaError:
    return MediaError(f"{name}: container format {format_name!r} is not on the allow-list of demuxers that read only their own file")


class InputGuard:
    """PyAV's ``io_open``: opens ``path`` and nothing else; remembers what it refused."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.refused: list[str] = []

    def open(self, url: str, flags: int, options: dict) -> io.BufferedReader:
        if url != self.path:
            self.refused.append(url)
            raise PermissionError(f"refused to open {url}")
        return open(url, "rb")  # PyAV closes it

    def check(self, name: str) -> None:
        """Raise :class:`MediaError` when the demuxer tried to open another file."""
        if self.refused:
            shown = self.refused[0] if len(self.refused[0]) <= 120 else self.refused[0][:100] + "..."
            count = len(self.refused)
            raise MediaError(f"{name}: the container names other files ({shown}, {count} in all): refused, only the input itself is read")


def ffmpeg_input(path: Path, container: str) -> tuple[str, dict[str, object]]:
    """The ffmpeg input url and input options that confine the decode to ``path``."""
    kwargs: dict[str, object] = {"protocol_whitelist": PROTOCOLS, "format_whitelist": ",".join(sorted(ALLOWED_DEMUXERS))}
    if "image2" in container.split(","):
        kwargs["f"] = "image2"
        kwargs["pattern_type"] = "none"
    return f"file:{Path(path).absolute()}", kwargs


def ffmpeg_input_argv(path: Path, container: str = "") -> list[str]:
    """:func:`ffmpeg_input` as argv words, ending with ``-i URL``, for commands built by hand."""
    url, kwargs = ffmpeg_input(path, container)
    return [*(word for key, value in kwargs.items() for word in (f"-{key}", str(value))), "-i", url]
