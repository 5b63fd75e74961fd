"""The curation part of the ``faces`` contract: status and reasons, duplicates, tracks, score ranges.

Every face keeps its row: ``ok`` (kept), ``filtered`` (with the rules it failed)
or ``duplicate`` (naming the kept face of its track that it copies). Each face's
track is in tracks.parquet, and the scores lie in the ranges their definitions
allow (``pipeline/curate/quality.py``).
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from schemas.contracts.base import Check, error
from schemas.manifests import FACE_STATUSES, FILTER_REASONS

PHASH_PATTERN = r"^[0-9a-f]{16}$"
# Each score's computed column and its allowed range (None: unbounded on that side).
SCORE_RANGES = {
    "sharpness": (0.0, None),
    "brightness": (0.0, 1.0),
    "contrast": (0.0, 1.0),
    "interocular_px": (0.0, None),
    "yaw_deg": (-180.0, 180.0),
    "pitch_deg": (-90.0, 90.0),
    "roll_deg": (-180.0, 180.0),
    "quality_score": (0.0, 1.0),
    "shot_index": (0.0, None),
}
COMPUTED = (
    "chk_filtered_iff_reasons",
    "chk_reason_is_first",
    "chk_reasons_known",
    "chk_duplicate_ok",
    "chk_track_known",
    *(f"chk_{name}" for name in SCORE_RANGES),
)


def _true(name: str, statement: str, column: str) -> Check:
    return error(name, statement, gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True]))


def checks() -> list[Check]:
    return [
        error(
            "faces.status_known",
            f"status is one of {', '.join(FACE_STATUSES)}",
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(FACE_STATUSES)),
        ),
        _true("faces.filtered_iff_reasons", "a face is filtered exactly when filter_reasons is not empty", "chk_filtered_iff_reasons"),
        _true(
            "faces.filter_reason_is_first", "filter_reason is the first of filter_reasons (null when there is none)", "chk_reason_is_first"
        ),
        _true("faces.filter_reasons_known", f"every filter reason is one of {', '.join(FILTER_REASONS)}", "chk_reasons_known"),
        _true(
            "faces.duplicate_of_kept_face",
            "a duplicate names in duplicate_of a kept face of its own track; no other face names one",
            "chk_duplicate_ok",
        ),
        _true("faces.track_in_tracks", "every face's track_id is a track of its video in tracks.parquet", "chk_track_known"),
        error(
            "faces.crop_phash_format",
            "crop_phash is 16 hex digits",
            gxe.ExpectColumnValuesToMatchRegex(column="crop_phash", regex=PHASH_PATTERN),
        ),
        *[
            error(f"faces.{name}_in_range", f"{name} in [{low}, {'inf' if high is None else high}]", _between(f"chk_{name}", low, high))
            for name, (low, high) in SCORE_RANGES.items()
        ],
    ]


def _between(column: str, low: float | None, high: float | None) -> gxe.ExpectColumnValuesToBeBetween:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
