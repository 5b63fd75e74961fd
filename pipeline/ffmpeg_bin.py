"""Locate the ffmpeg executable: ffmpeg on PATH when present, else imageio-ffmpeg's binary."""

from __future__ import annotations

import functools
import os
import shutil

FFMPEG_ENV = "FACECORPUS_FFMPEG"


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
