"""The filter stage: stored per-face scores -> each face's status and the rules it failed.

Item: a table of faces with their scores (``faces.parquet``'s columns before
curation set the status). Every rule of :data:`RULES`, in order, is checked on
every face; a face that fails any keeps its row with ``status = filtered``,
``filter_reason`` the first rule it failed and ``filter_reasons`` all of them
(in rule order); the others are ``ok`` with no reason. A threshold of 0 turns
its rule off (``max_*`` rules and ``drop_border``; ``min_*`` rules are off at 0
by construction). The thresholds are params.yaml's ``curate`` section; the
scores come from the quality stage's stored work, so changing a threshold
reruns only this step: nothing is decoded, detected or aligned again. Rules are
vectorised (polars): the stage's item is a whole table, not a face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from pipeline.config import CurateOptions
from pipeline.records import Status
from pipeline.stages.base import Stage

_DEFAULTS = CurateOptions()

FILTER_SCHEMA = pa.schema(
    [
        pa.field("face_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("filter_reason", pa.string()),
        pa.field("filter_reasons", pa.list_(pa.string()), nullable=False),
    ]
)


@dataclass(frozen=True)
class FilterParams:
    min_face_px: float = _DEFAULTS.min_face_px
    min_det_score: float = _DEFAULTS.min_det_score
    min_sharpness: float = _DEFAULTS.min_sharpness
    min_brightness: float = _DEFAULTS.min_brightness
    max_brightness: float = _DEFAULTS.max_brightness
    min_contrast: float = _DEFAULTS.min_contrast
    max_abs_yaw_deg: float = _DEFAULTS.max_abs_yaw_deg
    max_abs_pitch_deg: float = _DEFAULTS.max_abs_pitch_deg
    drop_border: bool = _DEFAULTS.drop_border
    unchanged_max_diff: float = _DEFAULTS.unchanged_max_diff

    @classmethod
    def of(cls, curate: CurateOptions) -> FilterParams:
        return cls(**{name: getattr(curate, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Rule:
    """A filter: its reason (the name a filtered face carries) and when a face fails it."""

    reason: str
    fails: Callable[[FilterParams], pl.Expr]
    statement: str


def _off_at_zero(threshold: float, failing: pl.Expr) -> pl.Expr:
    return failing if threshold > 0 else pl.lit(False)


RULES: tuple[Rule, ...] = (
    Rule("too_small", lambda p: pl.col("face_size_px") < p.min_face_px, "the box's shorter side < min_face_px"),
    Rule("low_score", lambda p: pl.col("det_score") < p.min_det_score, "det_score < min_det_score"),
    Rule("blurry", lambda p: pl.col("sharpness") < p.min_sharpness, "sharpness < min_sharpness"),
    Rule("too_dark", lambda p: pl.col("brightness") < p.min_brightness, "brightness < min_brightness"),
    Rule("too_bright", lambda p: _off_at_zero(p.max_brightness, pl.col("brightness") > p.max_brightness), "brightness > max_brightness"),
    Rule("low_contrast", lambda p: pl.col("contrast") < p.min_contrast, "contrast < min_contrast"),
    Rule("profile", lambda p: _off_at_zero(p.max_abs_yaw_deg, pl.col("yaw_deg").abs() > p.max_abs_yaw_deg), "|yaw_deg| > max_abs_yaw_deg"),
    Rule(
        "pitched",
        lambda p: _off_at_zero(p.max_abs_pitch_deg, pl.col("pitch_deg").abs() > p.max_abs_pitch_deg),
        "|pitch| > max_abs_pitch_deg",
    ),
    Rule("at_border", lambda p: pl.col("touches_border") & pl.lit(p.drop_border), "drop_border and the box touches the frame's edge"),
    # A "fake" face that differs from its pixel-aligned original by less than the threshold was never
    # changed (pipeline/curate/masks.py; null for every other face): never silently a FAKE sample.
    Rule(
        "unchanged_pair",
        lambda p: _off_at_zero(p.unchanged_max_diff, pl.col("mask_mean_diff") < p.unchanged_max_diff),
        "an aligned fake face's mean difference from its original's (1 - SSIM) < unchanged_max_diff",
    ),
)
REASONS = tuple(rule.reason for rule in RULES)


class FilterStage(Stage[pl.DataFrame, pa.Table]):
    name = "filter"
    version = 1
    Params = FilterParams
    inputs = ("quality",)
    columns = FILTER_SCHEMA

    def process(self, faces: pl.DataFrame) -> pa.Table:
        if "mask_mean_diff" not in faces.columns:  # no aligned pairs: the rule has nothing to read
            faces = faces.with_columns(mask_mean_diff=pl.lit(None, pl.Float32))
        failed = [pl.when(rule.fails(self.params)).then(pl.lit(rule.reason)) for rule in RULES]
        decided = faces.select("face_id", pl.concat_list(failed).list.drop_nulls().alias("filter_reasons")).with_columns(
            status=pl.when(pl.col("filter_reasons").list.len() > 0).then(pl.lit(Status.FILTERED.value)).otherwise(pl.lit(Status.OK.value)),
            filter_reason=pl.col("filter_reasons").list.first(),
        )
        return decided.select(FILTER_SCHEMA.names).to_arrow().cast(FILTER_SCHEMA)
