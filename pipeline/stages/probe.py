"""The probe stage: one distinct input -> what its container and video stream hold.

Used by the DVC snapshot stage (``pipeline/runs/snapshot.py``) to list the
corpus with its media fields; a file that does not probe is a failed row.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.corpus.snapshot import VideoInput
from pipeline.errors import InputChanged, MediaError
from pipeline.media.isolate import probe_within
from pipeline.records import ErrorKind, Status
from pipeline.stages.base import Stage
from schemas.manifests import PROBE_SCHEMA


@dataclass(frozen=True)
class ProbeRecord:
    """One row of ``PROBE_SCHEMA``."""

    video_id: str
    uri: str
    size_bytes: int | None
    status: Status
    error: str | None = None
    container: str | None = None
    video_codec: str | None = None
    width_px: int | None = None
    height_px: int | None = None
    rotation_deg: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    is_image: bool | None = None


class ProbeStage(Stage[VideoInput, ProbeRecord]):
    name = "probe"
    version = 1
    inputs = ("corpus",)
    columns = PROBE_SCHEMA

    def process(self, item: VideoInput) -> ProbeRecord:
        if item.problem:
            raise MediaError(item.problem)
        if (changed := item.changed()) is not None:
            raise InputChanged(changed)
        m = probe_within(item.entry.path, None).media_info()
        return ProbeRecord(
            item.video_id,
            item.entry.uri,
            item.size_bytes,
            Status.OK,
            None,
            m.container,
            m.video_codec,
            m.width_px,
            m.height_px,
            m.rotation_deg,
            m.duration_s,
            m.fps,
            m.is_image,
        )

    def failed(self, item: VideoInput, error: Exception, kind: ErrorKind) -> ProbeRecord:
        return ProbeRecord(item.video_id, item.entry.uri, item.size_bytes, Status.FAILED, str(error))
