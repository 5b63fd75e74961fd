"""The checked tables of the groups and originals suites (``schemas/contracts/groups.py``, ``originals.py``).

The group keys of faces are recomputed here from faces.parquet and videos.parquet
(not read from the code that assigned them), so the checks stand on their own.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.validate.arrow import finite_flags, with_computed
from pipeline.validate.columns import DatasetTables
from schemas.contracts import groups, originals
from schemas.contracts.limits import ContractLimits
from schemas.manifests import SPLITS_MANIFEST, SPLITS_SCHEMA


def _originals(videos: pl.DataFrame) -> pl.DataFrame:
    """uri, original, the fake's video_id and the original's (null when not in the corpus)."""
    names: dict[str, list[str]] = {}
    uris: dict[str, str] = {}
    for vid, uri, dups in videos.select("video_id", "uri", "duplicate_uris").iter_rows():
        for u in [uri, *(dups or [])]:
            uris[u] = vid
            names.setdefault(PurePosixPath(u).name, []).append(vid)
    rows = []
    for vid, uri, original in (
        videos.filter(pl.col("original").is_not_null() & (pl.col("original") != "")).select("video_id", "uri", "original").iter_rows()
    ):
        found = uris.get(original) or uris.get(str(PurePosixPath(uri).parent / original))
        by_name = set(names.get(PurePosixPath(original).name, []))
        found = found or (next(iter(by_name)) if len(by_name) == 1 else None)
        rows.append({"uri": uri, "original": original, "video_id": vid, "original_video_id": None if found == vid else found})
    schema = {"uri": pl.String, "original": pl.String, "video_id": pl.String, "original_video_id": pl.String}
    return pl.DataFrame(rows, schema=schema)


def originals_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    videos = pl.from_arrow(data.videos)
    faces = pl.from_arrow(data.faces.select(["video_id", "split_assigned"])) if "split_assigned" in data.faces.column_names else None
    fakes = _originals(videos)
    splits = {}
    if faces is not None:
        splits = {vid: set(s) for vid, s in faces.drop_nulls().group_by("video_id").agg(pl.col("split_assigned").unique()).iter_rows()}
    pair = [len(splits.get(v, set()) | splits.get(o, set())) for v, o in fakes.select("video_id", "original_video_id").iter_rows()]
    table = pa.Table.from_pylist(fakes.select("uri", "original").to_dicts(), schema=originals.SCHEMA)
    computed = {"chk_original_found": fakes["original_video_id"].is_not_null().to_numpy(), "chk_pair_splits": pair}
    return with_computed(table, computed, originals.COMPUTED)


def face_group_keys(faces: pl.DataFrame, videos: pl.DataFrame) -> pl.DataFrame:
    """face_id, group_key, split_assigned: identity:<id>, else video:<the original, for a fake; else the video>."""
    root = dict(_originals(videos).drop_nulls("original_video_id").select("video_id", "original_video_id").iter_rows())
    video_root = pl.col("video_id").replace_strict(root, default=pl.col("video_id"), return_dtype=pl.String)
    key = (
        pl.when(pl.col("identity_id").is_not_null())
        .then(pl.lit("identity:") + pl.col("identity_id"))
        .otherwise(pl.lit("video:") + video_root)
    )
    return faces.select("face_id", "split_assigned", group_key=key)


def groups_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    path = data.dataset_dir / SPLITS_MANIFEST
    table = pq.read_table(path) if path.is_file() else SPLITS_SCHEMA.empty_table()
    registry = pl.from_arrow(table)
    per_group = registry.group_by("group_id").agg(pl.col("split").n_unique().alias("n"))
    group_splits = registry.join(per_group, on="group_id", how="left", maintain_order="left")["n"].to_numpy()
    face_splits, match = _face_facts(data, registry)
    computed = {
        **finite_flags(table, groups.SCHEMA),
        "chk_group_splits": group_splits,
        "chk_face_splits": face_splits,
        "chk_faces_match_split": match,
    }
    return with_computed(table, computed, groups.COMPUTED)


def _face_facts(data: DatasetTables, registry: pl.DataFrame) -> tuple[list[int], list[bool]]:
    """Per registry row: distinct splits of its key's faces (with its group's), and whether they equal the row's split."""
    if "identity_id" not in data.faces.column_names:
        return [0] * registry.height, [False] * registry.height
    keys = face_group_keys(pl.from_arrow(data.faces), pl.from_arrow(data.videos))
    groups_of = registry.select("group_key", "group_id")
    by_group = (
        keys.join(groups_of, on="group_key", how="left")
        .group_by("group_id")
        .agg(pl.col("split_assigned").drop_nulls().n_unique().alias("n"))
    )
    by_key = keys.group_by("group_key").agg(pl.col("split_assigned").drop_nulls().unique().alias("splits"))
    rows = registry.join(by_group, on="group_id", how="left", maintain_order="left").join(
        by_key, on="group_key", how="left", maintain_order="left"
    )
    counts = rows["n"].fill_null(0).to_list()
    match = [not s or set(s) == {split} for s, split in rows.select("splits", "split").iter_rows()]
    return counts, match
