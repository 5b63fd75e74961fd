"""The contract's tunable limits: params.yaml's ``validate`` section."""

from __future__ import annotations

from dataclasses import dataclass, fields

from schemas.params import option

# Rows GX validates in one pandas batch. Not part of the contract (results do not
# depend on it); kept here so the CLI can show it without importing GX.
DEFAULT_PARTITION_ROWS = 250_000


@dataclass(frozen=True)
class ContractLimits:
    # Each limit's help is what `facecorpus validate --help` shows (pipeline/config/).
    max_failure_ratio: float = option(0.1, "error: share of the run's videos that may fail; also the ingest flow's gate")
    max_faces_per_frame: int = option(50, "warning: faces one sampled frame may hold")
    tiny_face_px: float = option(20.0, "a face whose box's shorter side is below this is tiny, px")
    max_tiny_face_share: float = option(0.5, "warning: share of tiny faces allowed")
    landmark_margin: float = option(0.25, "error: landmarks lie inside the box grown by this fraction of its width and height")

    def __post_init__(self) -> None:
        for name in ("max_failure_ratio", "max_tiny_face_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("max_faces_per_frame", "tiny_face_px", "landmark_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
