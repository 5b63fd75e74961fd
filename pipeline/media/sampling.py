"""Frame sampling: a spec and a file in, decoded frames with their true presentation times out.

:func:`iter_frames` decodes the frames a :class:`~pipeline.media.spec.SampleSpec`
selects, in presentation order: through the sparse plan of
:mod:`pipeline.media.seek` when one pays, else one full ffmpeg pass
(:func:`pipeline.media.spec.build_command`). Both give the same frames, pixels and pts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pipeline.media.ffmpeg import Deadline, Frame, run_frames
from pipeline.media.probe import ProbeInfo
from pipeline.media.seek import seek_frames, seek_plan
from pipeline.media.spec import SampleSpec, build_command


def iter_frames(path: Path, spec: SampleSpec, info: ProbeInfo, deadline: Deadline | None = None) -> Iterator[Frame]:
    """Decode the frames ``spec`` selects from ``path``, in presentation order.

    Raises :class:`MediaError` when ffmpeg fails before producing any frame,
    :class:`VideoTimeout` when ``deadline`` passes (ffmpeg is killed), and
    :class:`TransientError` when ffmpeg dies of a signal nobody here sent.
    """
    segments = seek_plan(path, spec, info, deadline)
    if segments is None:
        with contextlib.closing(run_frames(build_command(path, spec, info), Path(path).name, deadline)) as frames:
            for index, (image, _, pts_s) in enumerate(frames):
                yield Frame(index=index, pts_s=pts_s, image_rgb=image)
        return
    with contextlib.closing(seek_frames(path, spec, info, segments, deadline)) as frames:
        yield from frames
