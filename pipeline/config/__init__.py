"""Every option of the pipeline, defined once: its params.yaml key, its default and its help.

A params.yaml section is one frozen dataclass here (``extract``, ``curate``, ``select``,
``ingest``, ``validate``, ``pack``, ``report``, ``sample_corpus``, ``corpus``, ``dvc``; ``card`` and ``policy``
from ``pipeline/corpus/card.py``, ``policy.py``); a field is one key of it.
The CLI makes its flags from these fields (``pipeline/cli/options.py``), so a default shown by ``--help``
is the default used. :class:`Options` holds every section: it is parsed once at the edge (defaults <-
params.yaml <- flags, unknown keys refused by name) and travels as JSON (``to_json``/``from_json``) to Prefect
flows and Dask workers. A default that comes with a component (the detector's threshold, a crop format) is its constant.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pipeline.alignment.crops import CROP_FORMATS, DEFAULT_CROP_FORMAT, DEFAULT_CROP_QUALITY, CropFormat
from pipeline.alignment.presets import DEFAULT_PRESET, PRESETS, AlignConfig
from pipeline.config.values import coerce as coerce
from pipeline.config.values import default_of as default_of
from pipeline.config.values import field_types as field_types
from pipeline.config.values import optional_fields as optional_fields
from pipeline.corpus.card import CardOptions
from pipeline.corpus.policy import PolicyOptions
from pipeline.detection.base import (
    DEFAULT_DET_MAX_SIDE,
    DEFAULT_DETECTOR,
    DEFAULT_MODEL_PACK,
    DEFAULT_MODELS_ROOT,
    DEFAULT_NMS_IOU,
    DEFAULT_SCORE_THRESHOLD,
    DetectorConfig,
)
from pipeline.detection.registry import DETECTORS
from pipeline.embedding.options import EmbedOptions, SelectGroupOptions
from pipeline.media.probe import DEFAULT_MAX_PIXELS
from pipeline.media.spec import SampleSpec
from schemas.contracts.limits import DEFAULT_PARTITION_ROWS, ContractLimits
from schemas.params import option as option

# Where ``facecorpus report`` writes inside a dataset folder when report.out is unset.
REPORT_DIR = "report"
# The validation verdict's file name in a reports folder (``ValidateOptions.reports_path``).
VALIDATION_REPORT = "validation.json"


@dataclass(frozen=True)
class ExtractOptions:
    """params.yaml ``extract``: the corpus, the dataset folder, and what shapes detections and crops."""

    corpus: str | None = option(None, "corpus folder, corpus manifest (.csv/.jsonl/.parquet) or DFDC metadata.json", required=True)
    out: str | None = option(None, "dataset folder (manifests, crops, work)", required=True)
    detect_root: str | None = option(None, "folder for the detect stage's work; unset: the dataset folder")
    sample: str = option("fps:1", "fps:N | every:N | uniform:K | keyframes")
    max_frames: int | None = option(None, "at most this many frames per video; unset: no limit")
    start_s: float = option(0.0, "skip frames before this time, s")
    end_s: float | None = option(None, "skip frames at or after this time, s; unset: to the end")
    detector: str = option(DEFAULT_DETECTOR, "face detector", choices=tuple(DETECTORS))
    score_threshold: float = option(DEFAULT_SCORE_THRESHOLD, "detection score threshold")
    nms_iou: float = option(DEFAULT_NMS_IOU, "non-maximum suppression IoU")
    det_max_side: int = option(DEFAULT_DET_MAX_SIDE, "longest side of the detector input, px")
    models_root: str = option(DEFAULT_MODELS_ROOT, "insightface model packs folder (never downloaded into)")
    model_pack: str = option(DEFAULT_MODEL_PACK, "insightface model pack holding the SCRFD detector")
    model_file: str | None = option(
        None, "the detector's model file (dvc.yaml's detect stage depends on it); unset: the packaged one (`facecorpus models` copies it)"
    )
    preset: str = option(DEFAULT_PRESET, "alignment template", choices=PRESETS)
    size: int | None = option(None, "crop side, px; unset: 112 for arcface, 512 for ffhq")
    margin: float = option(0.0, "extra context around the face, fraction of the crop")
    crop_format: str = option(DEFAULT_CROP_FORMAT, "crop image format", choices=CROP_FORMATS)
    crop_quality: int = option(DEFAULT_CROP_QUALITY, "JPEG/WebP quality")
    max_pixels: int = option(DEFAULT_MAX_PIXELS, "largest picture (width x height) an input may have; larger ones fail unread")
    allow_unknown_model: bool = option(False, "load a detector model whose sha256 is not a pinned one (recorded in detector_version)")
    pair_aware: bool = option(
        True, "a fake frame-aligned with the original it names reuses the original's detections and affines (one detection per original)"
    )

    def sampling(self) -> SampleSpec:
        return SampleSpec.parse(self.sample, max_frames=self.max_frames, start_s=self.start_s, end_s=self.end_s)

    def detector_config(self, threads: int = 0) -> DetectorConfig:
        return DetectorConfig(
            name=self.detector,
            score_threshold=self.score_threshold,
            nms_iou=self.nms_iou,
            det_max_side=self.det_max_side,
            models_root=self.models_root,
            model_pack=self.model_pack,
            model_file=self.model_file,
            threads=threads,
            allow_unknown_model=self.allow_unknown_model,
        )

    def align_config(self) -> AlignConfig:
        return AlignConfig(preset=self.preset, size_px=self.size, margin=self.margin)

    def crop_format_config(self) -> CropFormat:
        return CropFormat(self.crop_format, self.crop_quality)

    def check(self) -> None:
        """Raise ValueError naming the first bad value (parsing each part does the checking)."""
        self.sampling()
        self.align_config()
        self.crop_format_config()
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")

    @property
    def out_dir(self) -> Path:
        return _path(self.out, "extract.out")

    @property
    def corpus_path(self) -> Path:
        return _path(self.corpus, "extract.corpus")

    @property
    def detect_dir(self) -> Path:
        return Path(self.detect_root).expanduser() if self.detect_root else self.out_dir


@dataclass(frozen=True)
class IngestOptions:
    """params.yaml ``ingest``: how the ingest flow cuts and runs the work (none of it changes the outputs)."""

    shard_videos: int = option(64, "at most this many videos per shard (one Prefect task each)")
    shard_mb: float = option(2048.0, "at most this many MB of video per shard")
    workers: int = option(0, "videos processed at once inside a shard; 0: one per core")
    timeout_s: float = option(600.0, "per-video timeout: a hung decoder is killed and the video recorded as failed")
    retries: int = option(2, "retries, with exponential backoff, of a video that failed transiently")
    backoff_s: float = option(1.0, "first retry delay, s; doubles each retry")
    runner: str = option("local", "task runner: local threads, or Dask", choices=("local", "dask"))
    dask_address: str | None = option(None, "tcp://host:port of an existing Dask scheduler; unset with --runner dask: a LocalCluster")
    dask_workers: int | None = option(None, "LocalCluster worker processes; unset: half the cores")

    def check(self) -> None:
        if self.shard_videos < 1 or self.shard_mb <= 0 or self.timeout_s <= 0 or self.retries < 0 or self.workers < 0:
            raise ValueError(f"bad ingest options: {self}")

    def worker_count(self, cores: int | None = None) -> int:
        """Videos processed at once inside a shard (0 means one per core of ``cores``:
        the cores this process may use, all of the machine's when unset)."""
        return self.workers or cores or os.cpu_count() or 1

    def pool_for(self, videos: int, cores: int | None = None) -> tuple[int, int]:
        """(workers, onnxruntime threads per worker) for a shard of ``videos`` videos run
        on ``cores`` cores (unset: the machine's; a Dask worker process passes its share,
        so N worker processes never run N x all-cores videos at once): no more workers than
        videos, and the cores shared among the workers that run, so a one-video shard gets
        every core rather than 1/workers of them."""
        budget = cores or os.cpu_count() or 1
        workers = max(1, min(self.worker_count(budget), videos))
        return workers, max(1, budget // workers)


@dataclass(frozen=True)
class ValidateOptions(ContractLimits):
    """params.yaml ``validate``: the data contracts' limits (``ContractLimits``; error-level
    failures block a release, and ``max_failure_ratio`` is the ingest flow's gate too)
    and where the reports go."""

    dataset: str | None = option(None, "dataset folder (videos.parquet, faces.parquet, crops/)", required=True)
    reports_dir: str | None = option(None, "folder for validation.json, the GX context and Data Docs; unset: <dataset>/reports")
    partition_rows: int = option(DEFAULT_PARTITION_ROWS, "rows per GX batch (partitions are made by the key's hash)")
    docs: bool = option(True, "build the Data Docs site")

    def limits(self) -> ContractLimits:
        return ContractLimits(**{f.name: getattr(self, f.name) for f in fields(ContractLimits)})

    def reports_path(self, dataset: Path) -> Path:
        return Path(self.reports_dir).expanduser() if self.reports_dir else Path(dataset) / "reports"


@dataclass(frozen=True)
class PackOptions:
    """params.yaml ``pack``: the released, DVC-pushed form of the dataset."""

    dataset: str | None = option(None, "dataset folder to pack (manifests + crops)", required=True)
    out: str | None = option(None, "release folder", required=True)
    shard_mb: float = option(256.0, "largest WebDataset tar shard, MB")
    reports_dir: str | None = option(None, "the release's validation report folder; unset: <out>/reports")


@dataclass(frozen=True)
class CurateOptions(EmbedOptions):
    """params.yaml ``curate``: tracks, filters, near-duplicates, identities, splits: reruns curation from stored work only."""

    cut_threshold: float = option(0.3, "a scene cut between two sampled frames whose colour histograms differ by more than this (0..1)")
    track_max_gap_frames: int = option(1, "a track goes on across this many sampled frames in a row where its face was not found")
    track_min_iou: float = option(0.3, "a face continues a track when its box overlaps the track's last box by this IoU, or ...")
    track_max_shift: float = option(1.0, "... when its centre moved at most this many face sizes (and its size changed at most as below)")
    track_max_scale_ratio: float = option(1.5, "largest change of face size between two faces of a track (larger / smaller)")
    min_face_px: float = option(24.0, "filter too_small: the box's shorter side is below this, px")
    min_det_score: float = option(0.0, "filter low_score: det_score below this")
    min_sharpness: float = option(80.0, "filter blurry: sharpness (variance of the Laplacian at 112 px) below this")
    min_brightness: float = option(0.03, "filter too_dark: mean luma of the crop below this (0..1)")
    max_brightness: float = option(0.95, "filter too_bright: mean luma of the crop above this (0..1); 0: off")
    min_contrast: float = option(0.02, "filter low_contrast: luma standard deviation below this (0..1)")
    max_abs_yaw_deg: float = option(60.0, "filter profile: |yaw| above this, degrees; 0: off")
    max_abs_pitch_deg: float = option(45.0, "filter pitched: |pitch| above this, degrees; 0: off")
    drop_border: bool = option(False, "filter at_border: the box touches the frame's edge")
    dup_max_distance: int = option(6, "faces of a track whose crops' 64-bit perceptual hashes differ in at most this many bits: duplicates")
    video_dup_max_distance: int = option(10, "two sampled frames whose 64-bit perceptual hashes differ in at most this many bits match")
    video_dup_min_share: float = option(0.8, "videos are near-duplicates when this share of each one's frames matches the other's")
    unchanged_max_diff: float = option(
        0.02, "filter unchanged_pair: an aligned fake face whose mean difference (1 - SSIM) from its original's is below this; 0: off"
    )

    def check(self) -> None:
        self.check_groups()
        if self.track_max_gap_frames < 0 or self.track_max_shift < 0 or self.track_max_scale_ratio < 1:
            raise ValueError(f"bad curate track options: {self}")
        if not 0 <= self.cut_threshold <= 1 or not 0 <= self.video_dup_min_share <= 1:
            raise ValueError("curate.cut_threshold and curate.video_dup_min_share must be in [0, 1]")
        if not 0 <= self.dup_max_distance <= 64 or not 0 <= self.video_dup_max_distance <= 64:
            raise ValueError("curate.dup_max_distance and curate.video_dup_max_distance are bit counts in [0, 64]")
        if not 0 <= self.unchanged_max_diff <= 1:
            raise ValueError("curate.unchanged_max_diff is a mean 1 - SSIM difference in [0, 1]")


@dataclass(frozen=True)
class SelectOptions(SelectGroupOptions):
    """params.yaml ``select``: the training view (``facecorpus select``, ``pipeline/curate/select.py``)."""

    dataset: str | None = option(None, "dataset folder (faces.parquet, tracks.parquet)", required=True)
    out: str | None = option(None, "folder to write selection.parquet to", required=True)
    per_track: int = option(8, "at most this many faces per track")
    min_quality: float = option(0.0, "only faces whose quality_score is at least this (0..1)")
    near_duplicate_videos: bool = option(False, "also select from videos flagged near_duplicate_of another")

    def check(self) -> None:
        if self.per_track < 1 or not 0 <= self.min_quality <= 1:
            raise ValueError(f"select.per_track must be >= 1 and select.min_quality in [0, 1], got {self.per_track}, {self.min_quality}")


@dataclass(frozen=True)
class ReportOptions:
    """params.yaml ``report``: ``facecorpus report DATASET``, the offline HTML report; its caps (these and
    ``pipeline/report/caps.py``) bound its time and size whatever the dataset's (bench/report_1m.py)."""

    dataset: str | None = option(None, "dataset folder (videos.parquet, faces.parquet, crops/)", required=True)
    out: str | None = option(None, "folder to write the report to (index.html); unset: <dataset>/report")
    corpus: str | None = option(None, "corpus folder or manifest to draw the video pages' frames from; unset: extract.corpus")
    card: str | None = option(None, "the dataset card (releases/vX.md) or folder of cards to link to; unset: none")
    sheet_faces: int = option(48, "at most this many crops per contact sheet (per video, per reason, per identity)")
    video_pages: int = option(100, "at most this many videos get a page (most faces first); the rest are only listed")

    def check(self) -> None:
        if self.sheet_faces < 1 or self.video_pages < 0:
            raise ValueError(f"report.sheet_faces must be >= 1 and report.video_pages >= 0, got {self.sheet_faces}, {self.video_pages}")

    def out_path(self, dataset: Path) -> Path:
        return Path(self.out).expanduser() if self.out else Path(dataset) / REPORT_DIR


@dataclass(frozen=True)
class SampleCorpusOptions:
    """params.yaml ``sample_corpus``: where ``facecorpus sample-corpus`` renders the bundled corpus."""

    out: str | None = option(None, "folder to write the sample corpus to", required=True)


@dataclass(frozen=True)
class CorpusOptions:
    """params.yaml ``corpus``: the folder holding the corpus media (for dvc.yaml's
    dependencies), and where the DVC snapshot stage writes the listing and probe table."""

    dir: str | None = option(None, "the corpus media folder (a DVC dependency)")
    snapshot_dir: str | None = option(None, "where the snapshot stage writes snapshot.json and probe.parquet", required=True)


@dataclass(frozen=True)
class DvcOptions:
    """params.yaml ``dvc``: where the DVC stages write their metrics and plots."""

    metrics_dir: str | None = option(None, "folder of the stages' metrics JSON (dvc metrics)", required=True)
    plots_dir: str | None = option(None, "folder of the curate stage's distribution CSVs of the face scores (dvc plots)", required=True)


@dataclass(frozen=True)
class Options:
    """Every section of params.yaml, typed; parsed once, then passed around whole."""

    extract: ExtractOptions = ExtractOptions()
    curate: CurateOptions = CurateOptions()
    select: SelectOptions = SelectOptions()
    ingest: IngestOptions = IngestOptions()
    validate: ValidateOptions = ValidateOptions()
    pack: PackOptions = PackOptions()
    report: ReportOptions = ReportOptions()
    sample_corpus: SampleCorpusOptions = SampleCorpusOptions()
    corpus: CorpusOptions = CorpusOptions()
    dvc: DvcOptions = DvcOptions()
    card: CardOptions = CardOptions()  # noqa: RUF009 - frozen, as the others
    policy: PolicyOptions = PolicyOptions()  # noqa: RUF009 - frozen, as the others

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, *, source: str = "options") -> Options:
        """Sections and keys as params.yaml spells them; an unknown section or key is an
        error naming it (with ``source``, e.g. the file); values are checked for type."""
        data = data or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected sections of keys, got {type(data).__name__}")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ValueError(f"{source}: unknown section {unknown[0]!r} (known: {', '.join(SECTIONS)})")
        return cls(**{name: _section(kind, data.get(name), f"{source}: {name}") for name, kind in SECTIONS.items()})

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {name: {f.name: _plain(getattr(self, name), f.name) for f in fields(kind)} for name, kind in SECTIONS.items()}

    def merged(self, overrides: Mapping[str, Mapping[str, Any]]) -> Options:
        """These options with ``{section: {key: value}}`` replaced (values checked as in from_json)."""
        changes = {}
        for name, values in overrides.items():
            if values:
                current = getattr(self, name)
                checked = _section(SECTIONS[name], {**_as_dict(current), **values}, name)
                changes[name] = checked
        return replace(self, **changes)


SECTIONS: dict[str, type] = {f.name: f.default.__class__ for f in fields(Options)}


def load_params(path: Path | None) -> Options:
    """Options from a params.yaml (every key checked), or the defaults when ``path`` is None."""
    if path is None:
        return Options()
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    return Options.from_json(data, source=str(path))


def _path(value: str | None, key: str) -> Path:
    if not value:
        raise ValueError(f"{key} is not set: pass it as a flag or in the --params file")
    return Path(value).expanduser()


def _plain(section: Any, name: str) -> Any:  # a tuple of text as JSON and YAML hold it: a list
    return list(value) if isinstance(value := getattr(section, name), tuple) else value


def _as_dict(section: Any) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(section)}


def _section(kind: type, values: Mapping[str, Any] | None, where: str) -> Any:
    values = values or {}
    if not isinstance(values, Mapping):
        raise ValueError(f"{where}: expected keys, got {type(values).__name__}")
    known = {f.name: f for f in fields(kind)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    types, optional = field_types(kind), optional_fields(kind)
    checked = {}
    for name, value in values.items():
        if value is None and name not in optional:
            raise ValueError(f"{where}.{name}: expected {types[name].__name__}, got nothing")
        checked[name] = coerce(types[name], value, f"{where}.{name}")
    return kind(**checked)
