"""The records that cross module boundaries: statuses, error kinds, and one row type per table.

Each record is a frozen dataclass whose fields are, in order, the columns of its
Arrow schema in ``schemas/manifests.py`` (a test checks that they agree), so a
list of records becomes a table with :func:`to_table` and nothing else builds a
row by hand. Units are in the names (``_px``, ``_s``, ``_deg``).
"""

from __future__ import annotations

import enum
import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

import pyarrow as pa

# Field metadata for a parameter that does not change a stage's output (a thread
# count, where a model file is looked for): it is left out of the stage's fingerprint.
NOT_OUTPUT: dict[str, bool] = {"output": False}


def output_params(params: Any) -> Any:
    """A parameters dataclass as JSON-able data, without its ``NOT_OUTPUT`` fields
    (recursively); a dataclass with an ``output_params()`` method says it itself."""
    if hasattr(params, "output_params"):
        return params.output_params()
    if is_dataclass(params):
        return {f.name: output_params(getattr(params, f.name)) for f in fields(params) if f.metadata.get("output", True)}
    if isinstance(params, (list, tuple)):
        return [output_params(v) for v in params]
    if isinstance(params, enum.Enum):
        return params.value
    return params


class Status(enum.StrEnum):
    """A video's status (``ok``, ``failed``, ``excluded``: kept out by the policy, the reason in
    ``error``) or a face's (``ok``: kept; ``filtered``: it
    failed a curation filter, named in ``filter_reason``; ``duplicate``: a near-copy of
    the kept face ``duplicate_of`` in its track) in the manifests."""

    OK = "ok"
    FAILED = "failed"
    EXCLUDED = "excluded"  # a video the policy (params.yaml policy) keeps out; never decoded
    FILTERED = "filtered"
    DUPLICATE = "duplicate"


class ErrorKind(enum.StrEnum):
    """Why an input failed: ``permanent`` (bad input), ``transient`` (may not happen
    again: retried, and rerun by ``facecorpus retry-failed``), ``timeout`` (ran past
    its deadline: rerun by ``retry-failed``, not retried in the run)."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TIMEOUT = "timeout"

    @property
    def retryable(self) -> bool:
        return self is not ErrorKind.PERMANENT


@dataclass(frozen=True)
class MediaInfo:
    """What probing found in a file (``videos.parquet``'s media columns). Sizes are
    displayed sizes, after the rotation metadata."""

    container: str
    video_codec: str
    width_px: int
    height_px: int
    rotation_deg: int
    duration_s: float
    fps: float
    frame_count: int
    has_audio: bool
    is_image: bool


@dataclass(frozen=True)
class DetectOutcome:
    """The detect stage's record of one video (its work folder's ``video.json``):
    status, what was decoded and found, and by which detector under which fingerprint."""

    video_id: str
    status: Status
    error: str | None
    error_kind: ErrorKind | None
    sampling: str
    frames_sampled: int
    faces_found: int
    detector: str
    detector_version: str
    detect_fingerprint: str
    media: MediaInfo | None = None
    # Pair-aware extraction (pipeline/stages/pairing.py): ``aligned`` (detections are its original's,
    # ``pair_original_id``), ``own_detection`` (a fake that ran the detector: ``pair_reason`` says why);
    # None for a video that names no original.
    pair_mode: str | None = None
    pair_reason: str | None = None
    pair_original_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_json(self) -> dict[str, Any]:
        """The record as JSON; the pair fields only when set (a video naming no original stores what it
        stored before pair-aware extraction, so its work stays valid under the same version)."""
        data = asdict(self)
        return {k: v for k, v in data.items() if v is not None or k not in _PAIR_FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DetectOutcome:
        media = MediaInfo(**data["media"]) if data.get("media") else None
        kind = ErrorKind(data["error_kind"]) if data.get("error_kind") else None
        return cls(**{**data, "status": Status(data["status"]), "error_kind": kind, "media": media})


_PAIR_FIELDS = ("pair_mode", "pair_reason", "pair_original_id")


@dataclass(frozen=True)
class VideoRecord:
    """One row of ``videos.parquet`` (``VIDEOS_SCHEMA``, same fields in the same order)."""

    video_id: str
    uri: str
    duplicate_uris: tuple[str, ...]
    status: Status
    error: str | None
    error_kind: ErrorKind | None
    size_bytes: int | None
    container: str | None
    video_codec: str | None
    width_px: int | None
    height_px: int | None
    rotation_deg: int | None
    duration_s: float | None
    fps: float | None
    frame_count: int | None
    has_audio: bool | None
    is_image: bool | None
    sampling: str
    frames_sampled: int
    faces_found: int
    detector: str
    detector_version: str | None
    preset: str
    detect_fingerprint: str
    align_fingerprint: str
    near_duplicate_of: str | None = None
    pair_mode: str | None = None
    pair_reason: str | None = None
    label: str | None = None
    original: str | None = None
    subject: str | None = None
    split: str | None = None
    license: str | None = None
    consent: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class DetectionRecord:
    """One detected face (``DETECTIONS_SCHEMA``): the detect stage's output row."""

    face_id: str
    video_id: str
    frame_index: int
    pts_s: float
    frame_width_px: int
    frame_height_px: int
    face_index: int
    bbox_xyxy_px: tuple[float, float, float, float]
    det_score: float
    landmarks5_px: tuple[float, ...]
    detector: str
    detector_version: str
    sampling: str


@dataclass(frozen=True)
class CropRecord:
    """One aligned crop (``CROPS_SCHEMA``): the align stage's output row."""

    face_id: str
    preset: str
    crop_size_px: int
    affine_2x3: tuple[float, ...]
    crop_path: str
    crop_sha256: str


@dataclass(frozen=True)
class FaceRecord:
    """One row of ``faces.parquet`` (``FACES_SCHEMA``): a detection, its crop, its video's corpus fields."""

    face_id: str
    video_id: str
    uri: str
    frame_index: int
    pts_s: float
    frame_width_px: int
    frame_height_px: int
    face_index: int
    bbox_xyxy_px: tuple[float, float, float, float]
    det_score: float
    landmarks5_px: tuple[float, ...]
    detector: str
    detector_version: str
    sampling: str
    preset: str
    crop_size_px: int
    affine_2x3: tuple[float, ...]
    crop_path: str
    crop_sha256: str
    track_id: str
    shot_index: int
    face_size_px: float
    interocular_px: float
    sharpness: float
    brightness: float
    contrast: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    touches_border: bool
    quality_score: float
    crop_phash: str
    status: Status
    filter_reason: str | None
    filter_reasons: tuple[str, ...]
    duplicate_of: str | None
    identity_id: str | None = None
    split_assigned: str | None = None
    original_face_id: str | None = None
    label: str | None = None
    original: str | None = None
    subject: str | None = None
    split: str | None = None
    license: str | None = None
    consent: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class TrackRecord:
    """One row of ``tracks.parquet`` (``TRACKS_SCHEMA``): a face track of one video, within one shot."""

    track_id: str
    video_id: str
    uri: str
    shot_index: int
    first_pts_s: float
    last_pts_s: float
    faces: int
    faces_kept: int
    mean_det_score: float
    min_det_score: float
    median_face_size_px: float
    best_face_id: str


def field_names(record_type: type) -> list[str]:
    return [f.name for f in fields(record_type)]


def to_table(records: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """Records (dataclasses whose fields are ``schema``'s columns) -> an Arrow table."""
    return pa.Table.from_pylist([_row(r) for r in records], schema=schema)


def spare_pandas() -> None:
    """Keep pandas out of this process until something imports it (a command that uses none).

    pyarrow imports pandas on its first conversion of Python objects (``pa.array``, so
    :func:`to_table`) to recognise pandas objects: 0.28-0.31 s of the 2.0-2.5 s that
    ``facecorpus extract`` took on one still (bench/RESULTS.md), where nothing uses pandas.
    Here that first look is made while this thread cannot import pandas, so pyarrow takes
    it for absent; when anything imports pandas later, an explicit pandas conversion right
    after its import makes pyarrow take it again, so pandas objects convert as they always
    did (a test checks). Nothing is done once pandas is imported."""
    if "pandas" in sys.modules or any(isinstance(f, _PandasWatch) for f in sys.meta_path):
        return
    watch = _PandasWatch()
    sys.meta_path.insert(0, watch)
    try:
        pa.array([0])  # pyarrow's first look for pandas, refused
    finally:
        watch.refusing_thread = None


class _PandasWatch(importlib.abc.MetaPathFinder):
    """Refuses pandas to ``refusing_thread``; after that, hands out pandas' own spec with a loader
    that tells pyarrow once pandas is loaded. It stays in ``sys.meta_path`` until then: a lookup
    that loads nothing (``importlib.util.find_spec``, as polars makes) must not end the watch."""

    def __init__(self) -> None:
        self.refusing_thread: int | None = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "pandas":
            return None
        if self.refusing_thread == threading.get_ident():
            raise ImportError("pandas is kept out of pyarrow's first conversion (pipeline.records.spare_pandas)")
        for finder in sys.meta_path:  # the finders after this one, as the import system would ask them
            spec = finder.find_spec(name, path, target) if finder is not self and hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ThenTellPyarrow(spec.loader, self)
                return spec
        return None


class _ThenTellPyarrow(importlib.abc.Loader):
    """pandas' own loader, then an explicit pandas conversion: pyarrow imports pandas again
    (loaded by now, no cost) and recognises pandas objects from then on; the watch ends."""

    def __init__(self, loader: importlib.abc.Loader, watch: _PandasWatch) -> None:
        self.loader = loader
        self.watch = watch

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__spec__.loader = module.__loader__ = self.loader  # pandas sees its own loader
        self.loader.exec_module(module)
        if self.watch in sys.meta_path:
            sys.meta_path.remove(self.watch)
        pa.table({}).to_pandas()


def from_table(table: pa.Table, record_type: type) -> list[Any]:
    names = field_names(record_type)
    return [record_type(**{k: _tupled(row[k]) for k in names}) for row in table.select(names).to_pylist()]


def _row(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _tupled(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def group_by(records: Iterable[Any], attribute: str) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = {}
    for record in records:
        grouped.setdefault(getattr(record, attribute), []).append(record)
    return grouped
