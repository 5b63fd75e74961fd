"""The groups contract: splits without leakage, and every fake's original in the corpus.

One row per row of ``splits.parquet`` (the split registry: a group key and its
group), and one per video naming an ``original`` (``originals``, below)."""

from __future__ import annotations

import great_expectations.expectations as gxe

from schemas.contracts.base import Check, error, schema_checks, suite_computed
from schemas.contracts.limits import ContractLimits
from schemas.manifests import SPLITS_SCHEMA

NAME = "groups"
KEY = "group_key"
SCHEMA = SPLITS_SCHEMA
OWN_COMPUTED = ("chk_group_splits", "chk_face_splits", "chk_faces_match_split")
COMPUTED = suite_computed(SCHEMA, OWN_COMPUTED)


def checks(limits: ContractLimits) -> list[Check]:
    one = [1]
    return [
        *schema_checks(NAME, SCHEMA, COMPUTED),
        error("groups.group_key_unique", "group_key is unique", gxe.ExpectColumnValuesToBeUnique(column="group_key")),
        error(
            "groups.key_format",
            "a group key is identity:, video: (a video or a fake's original) and an id",
            gxe.ExpectColumnValuesToMatchRegex(column="group_key", regex=r"^(?:identity|video):[0-9a-z-]+$"),
        ),
        error(
            "groups.one_split_per_group",
            "no group spans two splits: every key of a group (identities and videos joined by fakes) has the same split",
            gxe.ExpectColumnValuesToBeInSet(column="chk_group_splits", value_set=one),
        ),
        error(
            "groups.faces_one_split",
            "the faces of a group key (identity, else the video's original or itself) and of the fakes and originals joined "
            "to it hold at most one split_assigned",
            gxe.ExpectColumnValuesToBeBetween(column="chk_face_splits", min_value=0, max_value=1),
        ),
        error(
            "groups.faces_match_registry",
            "the faces of a group key have the split the registry records for it",
            gxe.ExpectColumnValuesToBeInSet(column="chk_faces_match_split", value_set=[True]),
        ),
    ]
