"""Extraction parameters: everything that shapes a dataset's detections and crops."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.alignment import AlignConfig
from pipeline.detection import DetectorConfig
from pipeline.sampling import SampleSpec
from pipeline.stages.align import CROP_FORMATS
from pipeline.stages.workdir import DONE_MARKER, WORK_DIR

__all__ = ["CROP_FORMATS", "DONE_MARKER", "WORK_DIR", "ExtractConfig"]


@dataclass(frozen=True)
class ExtractConfig:
    sampling: SampleSpec = field(default_factory=lambda: SampleSpec.parse("fps:1"))
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    crop_format: str = "png"
    crop_quality: int = 95

    def __post_init__(self) -> None:
        if self.crop_format not in CROP_FORMATS:
            raise ValueError(f"unknown crop format {self.crop_format!r}; choose one of {', '.join(CROP_FORMATS)}")
