"""The run-level contract: one row of statistics over the whole dataset version."""

from __future__ import annotations

import great_expectations.expectations as gxe
import pyarrow as pa

from schemas.contracts.base import Check, error, warning
from schemas.contracts.limits import ContractLimits

NAME = "run"
KEY = None
# Computed statistics, all of them; the run has no manifest of its own.
SCHEMA = pa.schema([])
COMPUTED = (
    "videos_total",
    "videos_failed",
    "failure_ratio",
    "faces_total",
    "max_faces_per_frame",
    "tiny_faces",
    "tiny_face_share",
)


def checks(limits: ContractLimits) -> list[Check]:
    return [
        error("run.has_videos", "the dataset holds at least one video", gxe.ExpectColumnMinToBeBetween(column="videos_total", min_value=1)),
        error(
            "run.failure_ratio",
            f"at most {limits.max_failure_ratio:g} of the videos failed",
            gxe.ExpectColumnMaxToBeBetween(column="failure_ratio", max_value=limits.max_failure_ratio),
        ),
        warning(
            "run.faces_per_frame",
            f"no sampled frame holds more than {limits.max_faces_per_frame} faces",
            gxe.ExpectColumnMaxToBeBetween(column="max_faces_per_frame", max_value=limits.max_faces_per_frame),
        ),
        warning(
            "run.tiny_face_share",
            f"at most {limits.max_tiny_face_share:g} of the faces are tiny (box side < {limits.tiny_face_px:g} px)",
            gxe.ExpectColumnMaxToBeBetween(column="tiny_face_share", max_value=limits.max_tiny_face_share),
        ),
    ]
