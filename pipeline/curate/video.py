"""The per-video curation stages (quality, tracks) over the video pass's outcomes.

For each video that came out of the video pass ok (detections, crops, frame
signatures), :class:`CurateVideos` returns its stored quality scores and track
assignments under the current fingerprints, or computes and stores the missing
ones. Nothing here decodes: the quality stage reads the crop files, the tracks
stage the detections and frame signatures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline.config import CurateOptions
from pipeline.curate.embed import EmbedParams, EmbedStage, VideoEmbedInput
from pipeline.curate.quality import QualityStage, VideoFaces
from pipeline.curate.tracks import TrackParams, TrackStage, VideoTrackInput
from pipeline.stages.base import Stage
from pipeline.stages.video import VideoOutcome, VideoPass


@dataclass(frozen=True)
class CuratedVideo:
    """A video's stored curation work: per-face scores, track assignments, and its tracks' best
    faces' embeddings (None when curate.embedder is none)."""

    video_id: str
    quality: pa.Table
    tracks: pa.Table
    embeddings: pa.Table | None = None


class CurateVideos:
    def __init__(self, job: VideoPass, dataset_dir: Path, curate: CurateOptions) -> None:
        if job.align is None or job.frames is None:
            raise ValueError("curation needs the video pass's crops and frame signatures")
        self.quality = QualityStage(dataset_dir, upstream={"detect": job.detect.fingerprint, "align": job.align.fingerprint})
        self.tracks = TrackStage(
            TrackParams.of(curate), dataset_dir, upstream={"detect": job.detect.fingerprint, "frames": job.frames.fingerprint}
        )
        self.embed = None
        if curate.embedder != "none":
            detector = job.detect.params.detector
            upstream = {"detect": job.detect.fingerprint, "align": job.align.fingerprint}
            upstream |= {"quality": self.quality.fingerprint, "tracks": self.tracks.fingerprint}
            params = EmbedParams(curate.embedder, curate.embed_per_track, detector.models_root, detector.model_pack)
            self.embed = EmbedStage(params, dataset_dir, upstream=upstream)

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (self.quality, self.tracks, *((self.embed,) if self.embed else ()))

    def stored(self, video_id: str) -> CuratedVideo | None:
        quality, tracks = self.quality.load(video_id), self.tracks.load(video_id)
        embeddings = self.embed.load(video_id) if self.embed else None
        if quality is None or tracks is None or (self.embed is not None and embeddings is None):
            return None
        return CuratedVideo(video_id, quality, tracks, embeddings)

    def run_one(self, outcome: VideoOutcome | None) -> CuratedVideo | None:
        """The video's curation work (stored, or done now); None for a video that failed."""
        if outcome is None or not outcome.ok or outcome.crops is None or outcome.frames is None:
            return None
        vid = outcome.detect.video_id
        # Stored work is kept only for the video's current faces: a fake's detect work is redone under the
        # same fingerprint when its pair decision changes (pipeline/stages/pairing.py), and its faces with it.
        faces = set(outcome.detections.column("face_id").to_pylist())
        same = lambda table: set(table.column("face_id").to_pylist()) == faces  # noqa: E731
        made: list[str] = []
        quality = _stored_or_made(
            self.quality, vid, lambda: self.quality.save_scores(vid, self.quality(VideoFaces(vid, outcome.detections, outcome.crops))),
            same, made,
        )  # fmt: skip
        tracks = _stored_or_made(
            self.tracks, vid, lambda: self.tracks.save_tracks(vid, self.tracks(VideoTrackInput(vid, outcome.detections, outcome.frames))),
            same, made,
        )  # fmt: skip
        embeddings = None
        if self.embed is not None:
            item = VideoEmbedInput(vid, outcome.detections, outcome.crops, quality, tracks)
            within = lambda table: not made and set(table.column("face_id").to_pylist()) <= faces  # noqa: E731
            embeddings = _stored_or_made(self.embed, vid, lambda: self.embed.save(vid, self.embed(item)), within, made)
        return CuratedVideo(vid, quality, tracks, embeddings)


def _stored_or_made(
    stage: Stage, video_id: str, make: Callable[[], pa.Table], valid: Callable[[pa.Table], bool], made: list[str]
) -> pa.Table:
    """The stage's stored table when ``valid`` for it, else made now (its name added to ``made``)."""
    stored = stage.load(video_id)
    if stored is not None and valid(stored):
        stage.count(reused=1)
        return stored
    made.append(stage.name)
    return make()
