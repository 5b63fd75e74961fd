"""The contract of a packed release: every face's crop is in a shard the index lists, intact.

Runs on a release folder (``facecorpus pack`` output: faces.parquet,
shard_index.parquet, crop_locations.parquet, shards/), one row per face.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import pyarrow as pa

from schemas.contracts.base import Check, error, schema_checks, suite_computed
from schemas.contracts.limits import ContractLimits
from schemas.manifests import FACES_SCHEMA

NAME = "shards"
KEY = "face_id"
SCHEMA = pa.schema([FACES_SCHEMA.field(name) for name in ("face_id", "crop_sha256")])
OWN_COMPUTED = ("chk_located", "chk_shard_listed", "chk_shard_sha256_ok", "chk_member_sha256_ok")
COMPUTED = suite_computed(SCHEMA, OWN_COMPUTED)


def _true(name: str, statement: str, column: str) -> Check:
    return error(name, statement, gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True]))


def checks(limits: ContractLimits) -> list[Check]:
    return [
        *schema_checks(NAME, SCHEMA, COMPUTED),
        error("shards.face_unique", "one row per face_id", gxe.ExpectColumnValuesToBeUnique(column="face_id")),
        _true("shards.crop_located", "every face's crop has a location (shard, offset) in crop_locations.parquet", "chk_located"),
        _true("shards.shard_in_index", "every crop's shard is listed in shard_index.parquet", "chk_shard_listed"),
        _true("shards.shard_sha256_matches", "the shard file exists and its sha256 equals the index's", "chk_shard_sha256_ok"),
        _true("shards.member_sha256_matches", "the bytes at the crop's offset in its shard hash to crop_sha256", "chk_member_sha256_ok"),
    ]
