"""The video pass: one video through the per-video stages (detect, frames, align), decoding it once.

:class:`VideoPass` is the stage the runs drive, one item per distinct video. It
reuses whatever each stage has stored for the video under its current
fingerprint, runs the detector only when the detect stage has no result, aligns
from stored detections when only alignment changed, takes the frame signatures
(``frames``: scene cuts, near-duplicate videos) in the same decode, and records
a bad input as a failed detect result (so reruns skip it). Frames are decoded
ahead on a thread while the current one is detected and aligned, and in a run the next
video is opened (probed, its first frames decoded) while the current one is worked on
(``pipeline/stages/ahead.py``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import pyarrow as pa

from pipeline.config import ExtractOptions
from pipeline.corpus.snapshot import VideoInput
from pipeline.errors import InputChanged, MediaError
from pipeline.media.ffmpeg import Deadline
from pipeline.media.isolate import probe_ready, probe_start, probe_within
from pipeline.media.prefetch import Prefetched, prefetch
from pipeline.media.probe import DEFAULT_MAX_PIXELS, ProbeInfo
from pipeline.media.sampling import iter_frames
from pipeline.records import CropRecord, DetectionRecord, DetectOutcome, ErrorKind, Status, VideoRecord, group_by
from pipeline.stages.ahead import OpenAhead, Opened
from pipeline.stages.align import AlignParams, AlignStage, FrameFaces
from pipeline.stages.base import Stage
from pipeline.stages.detect import DetectParams, DetectResult, DetectStage, VideoFrame
from pipeline.stages.frames import FrameParams, FrameSignature, FrameSignatureStage
from pipeline.stages.pairing import ALIGNED, FrameAligner, NotAligned, OriginalWork, PairDecision
from schemas.manifests import VIDEOS_SCHEMA

# Frames decoded ahead of detection (each a full-resolution RGB frame: 6 MB at 1080p).
PREFETCH_FRAMES = 2


@dataclass(frozen=True)
class VideoOutcome:
    """A video's results: its detect record and detections, its crops (None when it
    failed, or when only the detect stage runs) and its frame signatures (None when
    it failed, or when the pass takes none)."""

    detect: DetectOutcome
    detections: pa.Table
    crops: pa.Table | None
    preset: str
    align_fingerprint: str
    frames: pa.Table | None = None

    @property
    def ok(self) -> bool:
        return self.detect.ok

    def record(self, item: VideoInput) -> VideoRecord:
        """The video's ``videos.parquet`` row (the one place it is built)."""
        det, media = self.detect, self.detect.media
        return VideoRecord(
            video_id=det.video_id,
            uri=item.entry.uri,
            duplicate_uris=item.duplicate_uris,
            status=det.status,
            error=det.error,
            error_kind=det.error_kind,
            size_bytes=item.size_bytes,
            container=media and media.container,
            video_codec=media and media.video_codec,
            width_px=media and media.width_px,
            height_px=media and media.height_px,
            rotation_deg=media and media.rotation_deg,
            duration_s=media and media.duration_s,
            fps=media and media.fps,
            frame_count=media and media.frame_count,
            has_audio=media and media.has_audio,
            is_image=media and media.is_image,
            sampling=det.sampling,
            frames_sampled=det.frames_sampled,
            faces_found=det.faces_found,
            detector=det.detector,
            detector_version=det.detector_version,
            preset=self.preset,
            detect_fingerprint=det.detect_fingerprint,
            align_fingerprint=self.align_fingerprint if det.ok else "",
            pair_mode=det.pair_mode,
            pair_reason=det.pair_reason,
            **item.entry.fields,
        )


class VideoPass(Stage[VideoInput, VideoOutcome]):
    name = "video"
    version = 3  # 3: videos rows say how a fake's faces were found (pair_mode, pair_reason)
    inputs = ("detect", "align", "frames")
    columns = VIDEOS_SCHEMA

    def __init__(
        self,
        detect: DetectStage,
        align: AlignStage | None,
        timeout_s: float | None = None,
        frames: FrameSignatureStage | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        pair_aware: bool = True,
        **kwargs,
    ) -> None:
        """``align=None`` runs the detect stage only (the DVC detect stage); ``frames=None``
        takes no frame signatures. ``pair_aware``: a fake frame-aligned with its original reuses the
        original's detections (``originals``: fake video_id -> its original's, None when the
        original it names is not in the corpus; the run sets it and runs originals first)."""
        upstream = {name: stage.fingerprint for name, stage in (("detect", detect), ("align", align), ("frames", frames)) if stage}
        super().__init__(upstream=upstream, **kwargs)
        self.detect = detect
        self.align = align
        self.frames = frames
        self.timeout_s = timeout_s
        self.max_pixels = max_pixels
        self.pair_aware = pair_aware
        self.originals: dict[str, str | None] = {}
        self._ahead: OpenAhead | None = None  # set while run() goes through its items
        self._upcoming: VideoInput | None = None

    @classmethod
    def build(
        cls,
        extract: ExtractOptions,
        *,
        align: bool = True,
        threads: int = 0,
        timeout_s: float | None = None,
        retries: int = 0,
        backoff_s: float = 0.5,
        signatures: bool = True,
    ) -> VideoPass:
        """The pass for ``extract``'s parameters: detect work and frame signatures under its
        detect folder, crops and align work under its dataset folder (``signatures=False``:
        no frame signatures, as before curation existed; for the benchmark's baseline)."""
        detect = DetectStage(DetectParams(extract.sampling(), extract.detector_config(threads)), extract.detect_dir)
        aligner = None
        if align:
            aligner = AlignStage(
                AlignParams(extract.align_config(), extract.crop_format_config()), extract.out_dir, upstream={"detect": detect.fingerprint}
            )
        frames = FrameSignatureStage(FrameParams(extract.sampling()), extract.detect_dir) if signatures else None
        return cls(
            detect, aligner, timeout_s=timeout_s, frames=frames, max_pixels=extract.max_pixels, pair_aware=extract.pair_aware,
            retries=retries, backoff_s=backoff_s,
        )  # fmt: skip

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (self, self.detect, *(s for s in (self.frames, self.align) if s is not None))

    def stored(self, item: VideoInput) -> VideoOutcome | None:
        """The video's finished results under the current fingerprints, or None (counts nothing)."""
        det = self.load_detect(item.video_id)
        if det is None:
            return None
        if not det.ok:
            return self._outcome(det, None)
        frames = self.frames.load(item.video_id) if self.frames else None
        if self.frames is not None and frames is None:
            return None
        if self.align is None:
            return self._outcome(det, None, frames)
        crops = _of_faces(self.align.load(item.video_id), det)
        return None if crops is None else self._outcome(det, crops, frames)

    def reuse(self, item: VideoInput) -> VideoOutcome | None:
        done = self.stored(item)
        if done is not None:
            for stage in self.stages[1:]:
                stage.count(reused=1)
        return done

    def process(self, item: VideoInput) -> VideoOutcome:
        if item.problem:
            raise MediaError(item.problem)
        vid = item.video_id
        det = self.load_detect(vid)
        frames = self.frames.load(vid) if self.frames else None
        want_frames = self.frames is not None and frames is None
        crops = _of_faces(self.align.load(vid), det) if self.align is not None and det is not None else None
        if det is not None:
            self.detect.count(reused=1)
            if not want_frames and (det.detections.num_rows == 0 or self.align is None or crops is not None):
                if self.align is not None and crops is None:
                    crops = self.align.save_crops(vid, [])
                if self._ahead is not None:
                    self._ahead.discard(vid)  # opened ahead, when its stored work looked unfinished
                return self._outcome(det, crops, frames)
        opened = self._ahead.take(vid) if self._ahead is not None else None
        if opened is None:
            # The model loads (once per process) and the probe child starts (once per thread, again after a kill:
            # 1.1-1.7 s on a busy machine) before the clock starts: the timeout is the input's. The child starts
            # first and imports while the models load (one still: the wait for it went from 0.19-0.25 s to 0).
            probe_start()
        self._load_models()
        if opened is None:
            probe_ready()
            opened = self._open(item, Deadline.after(self.timeout_s) if self.timeout_s else None)
        with contextlib.closing(opened):
            self._open_next()  # while this video is worked on (or fails)
            info, decoding = opened.begin()
            stored = group_by(det.records(), "frame_index") if det is not None else None
            aligner = self.align if crops is None else None
            pairing = self._pairing(vid, info) if det is None else PairDecision()
            wanted = _Wanted(stored, want_frames, aligner, pairing.aligner)
            try:
                pass_ = self._decode_through(decoding, item.video_id, wanted)
            except NotAligned as exc:  # found while decoding: decode again, detecting (rare: a fake made otherwise)
                pairing = PairDecision.own(str(exc), pairing.original_id)
                again = prefetch(iter_frames(item.entry.path, self.detect.params.sampling, info, opened.deadline), PREFETCH_FRAMES)
                pass_ = self._decode_through(again, item.video_id, replace(wanted, pair=None))
        _unchanged(item)  # nothing is stored under video_id unless the decoded bytes were the hashed ones
        if det is None:
            outcome = replace(self.detect.outcome(vid, info, pass_.frames, len(pass_.detections)), **pairing.fields)
            det = self.detect.save(outcome, pass_.detections)
        elif pass_.frames != det.outcome.frames_sampled:
            raise MediaError(f"{item.entry.uri}: decoded {pass_.frames} frames, detections were made on {det.outcome.frames_sampled}")
        if want_frames:
            frames = self.frames.save_signatures(vid, pass_.signatures)
        if aligner is not None:
            crops = aligner.save_crops(vid, pass_.crops)
        return self._outcome(det, crops, frames)

    def run(self, items: Iterable[VideoInput]) -> Iterator[VideoOutcome]:
        """The items one after another (``run_one``), each next video opened ahead while the current
        one is worked on (``pipeline/stages/ahead.py``). Only this sequential path opens ahead: a pool
        calling ``run_one`` from its threads probes and decodes in each thread, as before."""
        ahead = self._ahead = OpenAhead(self._open, self.timeout_s)
        try:
            for item, self._upcoming in ahead.with_next(items):
                yield self.run_one(item)
        finally:
            self._ahead = self._upcoming = None
            ahead.close()

    def _load_models(self) -> None:
        self.detect.ready()
        if self.frames is not None:
            self.frames.ready()

    def _open(self, item: VideoInput, deadline: Deadline | None) -> Opened:
        """Probe ``item`` and start decoding its sampled frames (ahead, on a thread), in this thread;
        what goes wrong is kept in the result, raised when the video's turn comes."""
        started = time.monotonic()
        try:
            _unchanged(item)
            info = probe_within(item.entry.path, deadline, self.max_pixels)
        except Exception as exc:
            return Opened(None, None, deadline, exc)
        finally:
            if deadline is not None:
                deadline.charge(time.monotonic() - started)  # a video opened ahead: the probe is its time
        frames = prefetch(iter_frames(item.entry.path, self.detect.params.sampling, info, deadline), PREFETCH_FRAMES)
        return Opened(info, frames, deadline)

    def _open_next(self) -> None:
        """Open the run's next video ahead, when it will be decoded."""
        if self._ahead is not None:
            self._ahead.open_unless_done(self._upcoming, self.stored)

    def _decode_through(self, decoded: Prefetched, video_id: str, wanted: _Wanted) -> _Decoded:
        """Take the sampled frames ``decoded`` (decoding ahead, on a thread); detect on each (unless
        ``wanted.stored`` holds its detections), take its signature and align, as ``wanted`` says.

        The signature and the crops are made here, between detections, not on a worker thread
        beside the detector: with one, the 60 s 1 s GOP 1080p clip at fps:1 took 0.4-0.8 s longer
        (3 interleaved A/B pairs, 2 cores; issue 17): onnxruntime's two threads wait for each other
        at every operator, and a third busy thread delays one of them. Without the detector (an
        aligned fake) a worker for the crops gained nothing either (bench/pairs.py's 1 s GOP corpus,
        on arm: 2.51-2.80 s with one, 2.46-2.79 s without, 4 interleaved pairs)."""
        out = _Decoded()
        with contextlib.closing(decoded):
            for frame in decoded:
                out.frames += 1
                self.count(frames=1)
                sampled = VideoFrame(video_id, frame)
                signature = self.frames(sampled) if wanted.frames else None
                if signature is not None:
                    out.signatures.append(signature)
                if wanted.pair is not None:  # the signature's pHash, when taken, spares a second 1080p shrink
                    found = wanted.pair.detections(video_id, frame, signature.frame_phash if signature else None)
                    out.detections += found
                elif wanted.stored is None:
                    found = self.detect(sampled)
                    out.detections += found
                else:
                    found = wanted.stored.get(frame.index, [])
                if wanted.align is not None and found:
                    out.crops += wanted.align(FrameFaces(frame, tuple(found)))
        if wanted.pair is not None:
            wanted.pair.finish()
        return out

    def load_detect(self, video_id: str) -> DetectResult | None:
        """The stored detect work, unless its pair decision is not the one the current run would make:
        a fake's decision names the original it was made against (None when it was made for a reason
        of the run: the option off, the original not yet stored), so a changed option or original, or a
        decision that can now be made, redoes the video (the same options give the same manifests). So does
        a fake's work stored with no decision at all (before pair-aware extraction existed, or when its
        manifest named no original): an aligned fake is redone without the detector."""
        det = self.detect.load(video_id)
        if det is None:
            return None
        if det.outcome.pair_mode is None:
            return None if det.ok and video_id in self.originals else det
        wanted = self.originals.get(video_id) if self.pair_aware else None
        return det if det.outcome.pair_original_id == wanted else None

    def _pairing(self, video_id: str, info: ProbeInfo) -> PairDecision:
        """Whether a fake reuses its original's detections (``pipeline/stages/pairing.py``)."""
        if video_id not in self.originals:
            return PairDecision()
        original = self.originals[video_id]
        if not self.pair_aware:
            return PairDecision.own("extract.pair_aware is off")
        if original is None:
            return PairDecision.own("its original is not among the videos of this run (not in the corpus, or in another shard)")
        det = self.detect.load(original)
        frames = self.frames.load(original) if self.frames is not None else None
        if det is None or (det.ok and frames is None):
            return PairDecision.own("its original had no stored detections and frame signatures when it was extracted")
        if not det.ok or det.outcome.media is None:
            return PairDecision.own("its original failed", original)
        work = OriginalWork.of(original, group_by(det.records(), "frame_index"), frames, det.outcome.media)
        reason = work.media_mismatch(info.media_info())
        if reason is not None:
            return PairDecision.own(reason, original)
        return PairDecision(ALIGNED, None, original, FrameAligner(work, self.detect.face_id))

    def excluded(self, item: VideoInput, reason: str) -> VideoRecord:
        """The ``videos.parquet`` row of a video the policy keeps out: its reason, nothing decoded or stored."""
        return VideoRecord(
            video_id=item.video_id, uri=item.entry.uri, duplicate_uris=item.duplicate_uris, status=Status.EXCLUDED,
            error=f"{item.entry.uri}: excluded by the policy: {reason}", error_kind=None, size_bytes=item.size_bytes,
            container=None, video_codec=None, width_px=None, height_px=None, rotation_deg=None, duration_s=None, fps=None,
            frame_count=None, has_audio=None, is_image=None, sampling=self.detect.params.sampling.text, frames_sampled=0,
            faces_found=0, detector=self.detect.params.detector.name, detector_version=None,
            preset=self.align.params.align.text if self.align else "", detect_fingerprint="", align_fingerprint="",
            **item.entry.fields,
        )  # fmt: skip

    def failed(self, item: VideoInput, error: Exception, kind: ErrorKind) -> VideoOutcome:
        outcome = self.detect.outcome(item.video_id, None, 0, 0, error, kind)
        return self._outcome(self.detect.save(outcome, []), None)

    def _outcome(self, det: DetectResult, crops: pa.Table | None, frames: pa.Table | None = None) -> VideoOutcome:
        preset = self.align.params.align.text if self.align else ""
        fingerprint = self.align.fingerprint if self.align else ""
        return VideoOutcome(det.outcome, det.detections, crops, preset, fingerprint, frames)


def _of_faces(crops: pa.Table | None, det: DetectResult) -> pa.Table | None:
    """Stored crops, when they are of the stored detections' faces (a fake's detect work is redone under
    the same fingerprint when its pair decision changes: its old crops are then not its faces')."""
    if crops is None or set(crops.column("face_id").to_pylist()) != set(det.detections.column("face_id").to_pylist()):
        return None
    return crops


def _unchanged(item: VideoInput) -> None:
    if (changed := item.changed()) is not None:
        raise InputChanged(changed)


@dataclass(frozen=True)
class _Wanted:
    """What a decode pass does on each frame: detect (unless ``stored`` holds the detections
    by frame index), take the frame's signature, align (with ``align``)."""

    stored: dict[int, list[DetectionRecord]] | None
    frames: bool
    align: AlignStage | None
    pair: FrameAligner | None = None  # a fake's detections from its original's (checked frame by frame)


@dataclass
class _Decoded:
    """What a decode pass made: new detections, crops and signatures, and the frames it decoded."""

    detections: list[DetectionRecord] = field(default_factory=list)
    crops: list[CropRecord] = field(default_factory=list)
    signatures: list[FrameSignature] = field(default_factory=list)
    frames: int = 0
