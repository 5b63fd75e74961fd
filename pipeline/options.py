"""Plain-dict options (CLI flags, params.yaml, Prefect flow parameters) -> typed configs.

Flow parameters must be JSON (deployments store them), so the flow takes these
dicts and builds the configs on the worker that runs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.alignment import AlignConfig
from pipeline.detection import DetectorConfig
from pipeline.detection.base import DEFAULT_DET_MAX_SIDE, DEFAULT_NMS_IOU, DEFAULT_SCORE_THRESHOLD
from pipeline.extract import ExtractConfig
from pipeline.sampling import SampleSpec
from schemas.contracts.limits import ContractLimits

EXTRACT_DEFAULTS: dict = {
    "sample": "fps:1",
    "max_frames": None,
    "start_s": 0.0,
    "end_s": None,
    "detector": "centerface",
    "score_threshold": DEFAULT_SCORE_THRESHOLD,
    "nms_iou": DEFAULT_NMS_IOU,
    "det_max_side": DEFAULT_DET_MAX_SIDE,
    "models_root": "~/.insightface/models",
    "model_pack": "buffalo_l",
    "preset": "arcface",
    "size": None,
    "margin": 0.0,
    "crop_format": "png",
    "crop_quality": 95,
}

INGEST_DEFAULTS: dict = {
    "shard_videos": 64,
    "shard_mb": 2048.0,
    "workers": 0,
    "timeout_s": 600.0,
    "retries": 2,
    "backoff_s": 1.0,
    "max_failure_ratio": ContractLimits().max_failure_ratio,
}


def extract_config(options: dict, threads: int = 0) -> ExtractConfig:
    o = {**EXTRACT_DEFAULTS, **{k: v for k, v in options.items() if k in EXTRACT_DEFAULTS}}
    return ExtractConfig(
        sampling=SampleSpec.parse(o["sample"], max_frames=o["max_frames"], start_s=float(o["start_s"]), end_s=o["end_s"]),
        detector=DetectorConfig(
            name=o["detector"],
            score_threshold=float(o["score_threshold"]),
            nms_iou=float(o["nms_iou"]),
            det_max_side=int(o["det_max_side"]),
            models_root=Path(o["models_root"]).expanduser(),
            model_pack=o["model_pack"],
            threads=threads,
        ),
        align=AlignConfig(preset=o["preset"], size_px=o["size"], margin=float(o["margin"])),
        crop_format=o["crop_format"],
        crop_quality=int(o["crop_quality"]),
    )


@dataclass(frozen=True)
class IngestSettings:
    """How the ingest flow cuts and runs the work (none of it changes the outputs)."""

    shard_videos: int = INGEST_DEFAULTS["shard_videos"]
    shard_mb: float = INGEST_DEFAULTS["shard_mb"]
    workers: int = INGEST_DEFAULTS["workers"]
    timeout_s: float = INGEST_DEFAULTS["timeout_s"]
    retries: int = INGEST_DEFAULTS["retries"]
    backoff_s: float = INGEST_DEFAULTS["backoff_s"]
    max_failure_ratio: float = INGEST_DEFAULTS["max_failure_ratio"]

    @classmethod
    def from_options(cls, options: dict) -> IngestSettings:
        o = {**INGEST_DEFAULTS, **{k: v for k, v in options.items() if k in INGEST_DEFAULTS}}
        settings = cls(
            shard_videos=int(o["shard_videos"]),
            shard_mb=float(o["shard_mb"]),
            workers=int(o["workers"]),
            timeout_s=float(o["timeout_s"]),
            retries=int(o["retries"]),
            backoff_s=float(o["backoff_s"]),
            max_failure_ratio=float(o["max_failure_ratio"]),
        )
        if settings.shard_videos < 1 or settings.shard_mb <= 0 or settings.timeout_s <= 0 or not 0 <= settings.max_failure_ratio <= 1:
            raise ValueError(f"bad ingest settings: {settings}")
        return settings

    @property
    def worker_count(self) -> int:
        """Videos processed at once inside a shard (0 means one per core)."""
        return self.workers or os.cpu_count() or 1

    @property
    def ort_threads(self) -> int:
        """onnxruntime threads per inference, so workers x threads fills the cores without oversubscribing."""
        return self.pool_for(self.worker_count)[1]

    def pool_for(self, videos: int) -> tuple[int, int]:
        """(workers, onnxruntime threads per worker) for a shard of ``videos`` videos: no
        more workers than videos, and the cores shared among the workers that run, so
        a one-video shard gets every core rather than 1/workers of them."""
        workers = max(1, min(self.worker_count, videos))
        return workers, max(1, (os.cpu_count() or 1) // workers)
