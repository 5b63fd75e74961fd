"""The contract of ``videos.parquet``: one row per distinct input, failures included."""

from __future__ import annotations

import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from schemas.contracts.base import Check, error, schema_checks, suite_computed
from schemas.contracts.limits import ContractLimits
from schemas.manifests import PAIR_MODES, VIDEOS_SCHEMA

NAME = "videos"
KEY = "video_id"
SCHEMA = VIDEOS_SCHEMA
VIDEO_ID_PATTERN = r"^(?:[0-9a-f]{64}|uri-[0-9a-f]{59})$"
STATUSES = ("ok", "failed", "excluded")
# chk_status: status as a plain object column, so row conditions never meet pandas' NA.
OWN_COMPUTED = (
    "chk_status",
    "chk_frame_min_side_px",
    "chk_frames_sampled",
    "chk_faces_found",
    "chk_faces_rows",
    "chk_near_duplicate_ok",
    "chk_timeline_excess_frames",
)
COMPUTED = suite_computed(SCHEMA, OWN_COMPUTED)


def _when(status: str) -> dict:
    return {"row_condition": Column("chk_status") == status}


def checks(limits: ContractLimits) -> list[Check]:
    return [
        *schema_checks(NAME, SCHEMA, COMPUTED),
        error("videos.video_id_unique", "video_id is unique", gxe.ExpectColumnValuesToBeUnique(column="video_id")),
        error(
            "videos.video_id_format",
            "video_id is a sha256 hex, or uri- and 59 hex digits for an unreadable input",
            gxe.ExpectColumnValuesToMatchRegex(column="video_id", regex=VIDEO_ID_PATTERN),
        ),
        error(
            "videos.uri_unique", "uri is unique (inputs with the same bytes share one row)", gxe.ExpectColumnValuesToBeUnique(column="uri")
        ),
        error(
            "videos.status_known",
            f"status is one of {', '.join(STATUSES)}",
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(STATUSES)),
        ),
        error(
            "videos.pair_mode_known",
            f"pair_mode is null (the video names no original) or one of {', '.join(PAIR_MODES)}",
            gxe.ExpectColumnValuesToBeInSet(column="pair_mode", value_set=list(PAIR_MODES)),
        ),
        error("videos.ok_has_no_error", "an ok video has no error", gxe.ExpectColumnValuesToBeNull(column="error", **_when("ok"))),
        error(
            "videos.failed_has_error",
            "a failed video names its error",
            gxe.ExpectColumnValuesToNotBeNull(column="error", **_when("failed")),
        ),
        error(
            "videos.excluded_has_reason",
            "a video the policy excluded names the reason",
            gxe.ExpectColumnValuesToNotBeNull(column="error", **_when("excluded")),
        ),
        error(
            "videos.frame_size_positive",
            "an ok video's width_px and height_px are at least 1",
            gxe.ExpectColumnValuesToBeBetween(column="chk_frame_min_side_px", min_value=1, **_when("ok")),
        ),
        error(
            "videos.frames_sampled_non_negative",
            "frames_sampled >= 0",
            gxe.ExpectColumnValuesToBeBetween(column="chk_frames_sampled", min_value=0),
        ),
        error(
            "videos.faces_found_matches_faces",
            "faces_found equals the video's rows in faces.parquet",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="chk_faces_found", column_B="chk_faces_rows"),
        ),
        error(
            "videos.timeline_plausible",
            "an ok video's duration_s x fps is within 2 frames or 5% of frame_count (a still: 1 frame, no duration)",
            gxe.ExpectColumnValuesToBeBetween(column="chk_timeline_excess_frames", max_value=0, **_when("ok")),
        ),
        error(
            "videos.near_duplicate_of_known",
            "near_duplicate_of is null or another ok video's video_id, itself not flagged",
            gxe.ExpectColumnValuesToBeInSet(column="chk_near_duplicate_ok", value_set=[True]),
        ),
    ]
