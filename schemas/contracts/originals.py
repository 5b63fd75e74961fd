"""The originals contract: one row per video whose corpus row names an ``original`` (a fake)."""

from __future__ import annotations

import great_expectations.expectations as gxe
import pyarrow as pa

from schemas.contracts.base import Check, error, schema_checks, warning
from schemas.contracts.limits import ContractLimits

NAME = "originals"
KEY = "uri"
# The rows are computed from videos.parquet: the fake's uri and the original it names.
SCHEMA = pa.schema([pa.field("uri", pa.string(), nullable=False), pa.field("original", pa.string(), nullable=False)])
COMPUTED = ("chk_original_found", "chk_pair_splits")


def checks(limits: ContractLimits) -> list[Check]:
    return [
        *schema_checks(NAME, SCHEMA, COMPUTED),
        warning(
            "originals.original_in_corpus",
            "every fake's original is a video of the corpus (the failing rows list the fakes whose original is missing)",
            gxe.ExpectColumnValuesToBeInSet(column="chk_original_found", value_set=[True]),
        ),
        error(
            "originals.fake_and_original_one_split",
            "a fake's faces and its original's faces are in one split",
            gxe.ExpectColumnValuesToBeBetween(column="chk_pair_splits", min_value=0, max_value=1),
        ),
    ]
