"""The contract of the crop files: one row per distinct crop that faces.parquet lists.

Crops are loose files ``crops/<sha[:2]>/<sha256>.<ext>`` today; a shard index
gets its own contract (and registry entry) when shards exist.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import pyarrow as pa

from schemas.contracts.base import Check, error, schema_checks, suite_computed
from schemas.contracts.limits import ContractLimits
from schemas.manifests import FACES_SCHEMA

NAME = "crops"
KEY = "crop_path"
SCHEMA = pa.schema([FACES_SCHEMA.field(name) for name in ("crop_path", "crop_sha256", "crop_size_px")])
CROP_EXTENSIONS = ("png", "jpg", "webp")
CROP_PATH_PATTERN = rf"^crops/[0-9a-f]{{2}}/[0-9a-f]{{64}}\.(?:{'|'.join(CROP_EXTENSIONS)})$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
OWN_COMPUTED = (
    "chk_sha256",
    "chk_path_sha256",
    "chk_file_exists",
    "chk_file_sha256",
    "chk_crop_size_px",
    "chk_image_side_px",
)
COMPUTED = suite_computed(SCHEMA, OWN_COMPUTED)


def checks(limits: ContractLimits) -> list[Check]:
    return [
        *schema_checks(NAME, SCHEMA, COMPUTED),
        error("crops.path_unique", "one crop_sha256 and crop_size_px per crop_path", gxe.ExpectColumnValuesToBeUnique(column="crop_path")),
        error(
            "crops.sha256_format",
            "crop_sha256 is 64 hex digits",
            gxe.ExpectColumnValuesToMatchRegex(column="crop_sha256", regex=SHA256_PATTERN),
        ),
        error(
            "crops.path_layout",
            f"crop_path is crops/{{sha[:2]}}/{{sha256}}.{{{'|'.join(CROP_EXTENSIONS)}}}",
            gxe.ExpectColumnValuesToMatchRegex(column="crop_path", regex=CROP_PATH_PATTERN),
        ),
        error(
            "crops.path_names_sha256",
            "crop_path names crop_sha256 (folder sha[:2], file sha)",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="chk_sha256", column_B="chk_path_sha256"),
        ),
        error(
            "crops.file_exists",
            "the crop file exists inside the dataset folder",
            gxe.ExpectColumnValuesToBeInSet(column="chk_file_exists", value_set=[True]),
        ),
        error(
            "crops.file_sha256_matches",
            "the crop file's sha256 equals crop_sha256",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="chk_sha256", column_B="chk_file_sha256", ignore_row_if="either_value_is_missing"),
        ),
        error(
            "crops.image_size_matches",
            "the crop decodes to a square image of side crop_size_px",
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="chk_crop_size_px", column_B="chk_image_side_px", ignore_row_if="either_value_is_missing"
            ),
        ),
    ]
