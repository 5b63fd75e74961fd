"""Computed columns of the curation checks: faces' status, reasons, duplicates and tracks; the
tracks suite's batch; videos' near-duplicate flags (``schemas/contracts/curation.py``, ``tracks.py``).

As in ``columns.py``, everything is computed over the whole manifest, and a
column the manifest lacks (or holds with another type) makes the derived facts
null or False, so the schema checks report it once and the derived checks fail
rather than raise.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.validate.arrow import finite_flags, float_vector, object_column, with_computed
from schemas.contracts import curation, tracks
from schemas.manifests import FILTER_REASONS


def _frame(table: pa.Table, strings: tuple[str, ...], lists: tuple[str, ...] = ()) -> pl.DataFrame:
    """The named string columns (null when missing) and list<string> columns (empty when missing), with a row index."""
    columns = {name: object_column(table, name) for name in strings}
    frame = pl.DataFrame({name: pl.Series(name, values.to_pylist(), pl.String) for name, values in columns.items()})
    for name in lists:
        ok = name in table.column_names and pa.types.is_list(table[name].type) and pa.types.is_string(table[name].type.value_type)
        values = table[name].to_pylist() if ok else [[] for _ in range(table.num_rows)]
        frame = frame.with_columns(pl.Series(name, values, pl.List(pl.String)))
    return frame.with_row_index("row")


def face_facts(faces: pa.Table, tracks_: pa.Table) -> dict[str, np.ndarray]:
    """The faces suite's curation columns (``curation.COMPUTED``)."""
    f = _frame(faces, ("face_id", "video_id", "track_id", "status", "filter_reason", "duplicate_of"), ("filter_reasons",))
    reasons = pl.col("filter_reasons").fill_null([])
    checks = f.select(
        ((pl.col("status") == "filtered") == (reasons.list.len() > 0)).fill_null(False).alias("chk_filtered_iff_reasons"),
        pl.col("filter_reason").eq_missing(reasons.list.first()).alias("chk_reason_is_first"),
        reasons.list.eval(pl.element().is_in(FILTER_REASONS)).list.all().alias("chk_reasons_known"),
    )
    targets = f.select(pl.col("face_id").alias("duplicate_of"), pl.col("track_id").alias("t_track"), pl.col("status").alias("t_status"))
    dup = f.join(targets.unique("duplicate_of", keep="first"), on="duplicate_of", how="left").sort("row")
    is_dup = dup["status"] == "duplicate"
    names_kept = (dup["t_status"] == "ok") & (dup["t_track"] == dup["track_id"])
    duplicate_ok = pl.select(pl.when(is_dup).then(names_kept).otherwise(dup["duplicate_of"].is_null())).to_series().fill_null(False)
    t = _frame(tracks_, ("track_id", "video_id")).drop("row").unique("track_id", keep="first").with_columns(known=pl.lit(True))
    known = f.join(t, on="track_id", how="left", suffix="_t").sort("row")
    track_known = (known["known"].fill_null(False) & (known["video_id"] == known["video_id_t"])).fill_null(False)
    scores = {f"chk_{name}": float_vector(faces, name) for name in curation.SCORE_RANGES}
    return {
        **{name: checks[name].fill_null(False).to_numpy() for name in checks.columns},
        "chk_duplicate_ok": duplicate_ok.to_numpy(),
        "chk_track_known": track_known.to_numpy(),
        **scores,
    }


def tracks_table(tracks_: pa.Table, faces: pa.Table, videos: pa.Table) -> pa.Table:
    """The tracks suite's batch: tracks.parquet and its computed columns (``tracks.COMPUTED``)."""
    t = _frame(tracks_, ("track_id", "video_id", "best_face_id"))
    f = _frame(faces, ("face_id", "track_id", "status"))
    per_track = f.group_by("track_id").agg(pl.len().alias("rows"), (pl.col("status") == "ok").sum().alias("kept"))
    ok_videos = _frame(videos, ("video_id", "status")).filter(pl.col("status") == "ok").select("video_id").unique()
    members = f.select(pl.col("face_id").alias("best_face_id"), "track_id").unique().with_columns(best_in_track=pl.lit(True))
    joined = (
        t.join(per_track, on="track_id", how="left")
        .join(ok_videos.with_columns(video_ok=pl.lit(True)), on="video_id", how="left")
        .join(members, on=["best_face_id", "track_id"], how="left")
        .sort("row")
    )
    computed = {
        **finite_flags(tracks_, tracks.SCHEMA),
        "chk_video_known": joined["video_ok"].fill_null(False).to_numpy(),
        "chk_span_s": float_vector(tracks_, "last_pts_s") - float_vector(tracks_, "first_pts_s"),
        "chk_faces": float_vector(tracks_, "faces"),
        "chk_faces_rows": joined["rows"].fill_null(0).cast(pl.Float64).to_numpy(),
        "chk_faces_kept": float_vector(tracks_, "faces_kept"),
        "chk_kept_rows": joined["kept"].fill_null(0).cast(pl.Float64).to_numpy(),
        "chk_best_face_in_track": joined["best_in_track"].fill_null(False).to_numpy(),
        "chk_min_det_score": float_vector(tracks_, "min_det_score"),
        "chk_mean_det_score": float_vector(tracks_, "mean_det_score"),
    }
    return with_computed(tracks_, computed, tracks.COMPUTED)


def near_duplicate_ok(videos: pa.Table) -> np.ndarray:
    """True where near_duplicate_of is null, or names another ok video that is itself not flagged."""
    v = _frame(videos, ("video_id", "status", "near_duplicate_of"))
    targets = v.select(
        pl.col("video_id").alias("near_duplicate_of"), pl.col("status").alias("t_status"), pl.col("near_duplicate_of").alias("t_flag")
    ).unique("near_duplicate_of", keep="first")
    joined = v.join(targets, on="near_duplicate_of", how="left").sort("row")
    flagged = joined["near_duplicate_of"].is_not_null()
    names_ok = (joined["t_status"] == "ok") & joined["t_flag"].is_null() & (joined["near_duplicate_of"] != joined["video_id"])
    return pl.select(pl.when(flagged).then(names_ok).otherwise(True)).to_series().fill_null(False).to_numpy()
