"""The contract of ``faces.parquet``: one row per detected face (curation's checks: ``curation.py``)."""

from __future__ import annotations

import great_expectations.expectations as gxe

from schemas.contracts import curation
from schemas.contracts.base import Check, error, schema_checks, suite_computed
from schemas.contracts.limits import ContractLimits
from schemas.manifests import FACES_SCHEMA

NAME = "faces"
KEY = "face_id"
SCHEMA = FACES_SCHEMA
FACE_ID_PATTERN = r"^[0-9a-f]{32}$"
# |det| of the affine's linear part is the crop-to-frame area scale squared: below
# 1e-6 a 1000x zoom-out (the face collapses to a point), above 1e6 a 1000x zoom-in.
AFFINE_ABS_DET_RANGE = (1e-6, 1e6)
OWN_COMPUTED = (
    "chk_det_score",
    "chk_bbox_frame_margin_px",
    "chk_bbox_min_side_px",
    "chk_landmarks_outside_box",
    "chk_affine_abs_det",
    "chk_crop_size_px",
    "chk_preset_size_px",
    "chk_video_known",
    "chk_video_status",
    "chk_uri",
    "chk_video_uri",
    "chk_frame_index",
    "chk_video_frames_sampled",
    "chk_face_index",
    *curation.COMPUTED,
)
COMPUTED = suite_computed(SCHEMA, OWN_COMPUTED)


def checks(limits: ContractLimits) -> list[Check]:
    return [*schema_checks(NAME, SCHEMA, COMPUTED), *_identity_checks(), *_geometry_checks(limits), *curation.checks()]


def _identity_checks() -> list[Check]:
    """Ids, and each face's place in its video."""
    return [
        error("faces.face_id_unique", "face_id is unique", gxe.ExpectColumnValuesToBeUnique(column="face_id")),
        error(
            "faces.face_id_format", "face_id is 32 hex digits", gxe.ExpectColumnValuesToMatchRegex(column="face_id", regex=FACE_ID_PATTERN)
        ),
        error(
            "faces.video_id_in_videos",
            "every face's video_id is in videos.parquet",
            gxe.ExpectColumnValuesToBeInSet(column="chk_video_known", value_set=[True]),
        ),
        error(
            "faces.video_is_ok",
            "every face's video has status ok",
            gxe.ExpectColumnValuesToBeInSet(column="chk_video_status", value_set=["ok"]),
        ),
        error(
            "faces.uri_matches_video",
            "a face's uri is its video's",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="chk_uri", column_B="chk_video_uri", ignore_row_if="either_value_is_missing"),
        ),
        error(
            "faces.frame_index_non_negative", "frame_index >= 0", gxe.ExpectColumnValuesToBeBetween(column="chk_frame_index", min_value=0)
        ),
        error(
            "faces.frame_index_in_video",
            "frame_index < the video's frames_sampled",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="chk_video_frames_sampled", column_B="chk_frame_index", ignore_row_if="either_value_is_missing"
            ),
        ),
        error("faces.face_index_non_negative", "face_index >= 0", gxe.ExpectColumnValuesToBeBetween(column="chk_face_index", min_value=0)),
    ]


def _geometry_checks(limits: ContractLimits) -> list[Check]:
    """Score, box, landmarks, affine and crop size."""
    low, high = AFFINE_ABS_DET_RANGE
    margin = limits.landmark_margin
    return [
        error(
            "faces.det_score_in_unit_range",
            "det_score in [0, 1]",
            gxe.ExpectColumnValuesToBeBetween(column="chk_det_score", min_value=0, max_value=1),
        ),
        error(
            "faces.bbox_inside_frame",
            "the box lies inside the frame: x1, y1 >= 0, x2 <= frame_width_px, y2 <= frame_height_px",
            gxe.ExpectColumnValuesToBeBetween(column="chk_bbox_frame_margin_px", min_value=0),
        ),
        error(
            "faces.bbox_non_degenerate",
            "the box has x2 > x1 and y2 > y1",
            gxe.ExpectColumnValuesToBeBetween(column="chk_bbox_min_side_px", min_value=0, strict_min=True),
        ),
        error(
            "faces.landmarks_near_box",
            f"the 5 landmarks lie inside the box grown by {margin:g} of its width and height on each side",
            gxe.ExpectColumnValuesToBeBetween(column="chk_landmarks_outside_box", max_value=margin),
        ),
        error(
            "faces.affine_non_degenerate",
            f"the affine's |det| is in [{low:g}, {high:g}]",
            gxe.ExpectColumnValuesToBeBetween(column="chk_affine_abs_det", min_value=low, max_value=high),
        ),
        error(
            "faces.crop_size_matches_preset",
            "crop_size_px equals the size the preset names (preset:size:margin=m)",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="chk_crop_size_px", column_B="chk_preset_size_px"),
        ),
    ]
