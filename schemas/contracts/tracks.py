"""The contract of ``tracks.parquet``: one row per face track."""

from __future__ import annotations

import great_expectations.expectations as gxe

from schemas.contracts.base import Check, error, schema_checks, suite_computed
from schemas.contracts.limits import ContractLimits
from schemas.manifests import TRACKS_SCHEMA

NAME = "tracks"
KEY = "track_id"
SCHEMA = TRACKS_SCHEMA
TRACK_ID_PATTERN = r"^[0-9a-f]{32}$"
OWN_COMPUTED = (
    "chk_video_known",
    "chk_span_s",
    "chk_faces",
    "chk_faces_rows",
    "chk_faces_kept",
    "chk_kept_rows",
    "chk_best_face_in_track",
    "chk_min_det_score",
    "chk_mean_det_score",
)
COMPUTED = suite_computed(SCHEMA, OWN_COMPUTED)


def checks(limits: ContractLimits) -> list[Check]:
    equal = gxe.ExpectColumnPairValuesToBeEqual
    return [
        *schema_checks(NAME, SCHEMA, COMPUTED),
        error("tracks.track_id_unique", "track_id is unique", gxe.ExpectColumnValuesToBeUnique(column="track_id")),
        error(
            "tracks.track_id_format",
            "track_id is 32 hex digits",
            gxe.ExpectColumnValuesToMatchRegex(column="track_id", regex=TRACK_ID_PATTERN),
        ),
        error(
            "tracks.video_id_in_videos",
            "every track's video is an ok video of videos.parquet",
            gxe.ExpectColumnValuesToBeInSet(column="chk_video_known", value_set=[True]),
        ),
        error("tracks.span_ordered", "first_pts_s <= last_pts_s", gxe.ExpectColumnValuesToBeBetween(column="chk_span_s", min_value=0)),
        error("tracks.has_faces", "a track has at least one face", gxe.ExpectColumnValuesToBeBetween(column="chk_faces", min_value=1)),
        error(
            "tracks.faces_match", "faces equals the track's rows in faces.parquet", equal(column_A="chk_faces", column_B="chk_faces_rows")
        ),
        error(
            "tracks.faces_kept_match",
            "faces_kept equals the track's faces with status ok",
            equal(column_A="chk_faces_kept", column_B="chk_kept_rows"),
        ),
        error(
            "tracks.best_face_in_track",
            "best_face_id is a face of the track",
            gxe.ExpectColumnValuesToBeInSet(column="chk_best_face_in_track", value_set=[True]),
        ),
        error(
            "tracks.det_scores_in_range",
            "min_det_score in [0, 1]",
            gxe.ExpectColumnValuesToBeBetween(column="chk_min_det_score", min_value=0, max_value=1),
        ),
        error(
            "tracks.min_below_mean",
            "min_det_score <= mean_det_score",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="chk_mean_det_score", column_B="chk_min_det_score", or_equal=True),
        ),
    ]
