"""The contract's tunable limits: params.yaml's ``validate`` section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

# Rows GX validates in one pandas batch. Not part of the contract (results do not
# depend on it); kept here so the CLI can show it without importing GX.
DEFAULT_PARTITION_ROWS = 250_000


@dataclass(frozen=True)
class ContractLimits:
    # Share of the run's videos that may fail (status "failed") before the run is invalid.
    max_failure_ratio: float = 0.1
    # Faces one sampled frame may hold before the run is suspicious (warning).
    max_faces_per_frame: int = 50
    # A face whose box's shorter side is below this is "tiny".
    tiny_face_px: float = 20.0
    # Share of tiny faces above which the run is suspicious (warning).
    max_tiny_face_share: float = 0.5
    # Landmarks must lie inside the box grown by this fraction of its width
    # (left and right) and height (top and bottom).
    landmark_margin: float = 0.25

    def __post_init__(self) -> None:
        for name in ("max_failure_ratio", "max_tiny_face_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("max_faces_per_frame", "tiny_face_px", "landmark_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def from_params(cls, section: Mapping) -> ContractLimits:
        """The limits named in a params section; its other keys (paths, options) are ignored."""
        return cls(**{f.name: section[f.name] for f in fields(cls) if section.get(f.name) is not None})

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
