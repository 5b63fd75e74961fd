"""Near-duplicate faces within a track, and near-duplicate videos."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.curate.duplicates import DuplicateParams, DuplicateStage
from pipeline.curate.hashes import hamming, hash_ints
from pipeline.curate.videos import NearDuplicateParams, NearDuplicateVideos, candidate_pairs, share_matched


def test_one_frame_repeated_collapses_to_one_kept_face_per_track(curated):
    out, _ = curated
    faces = pl.read_parquet(out / "faces.parquet").filter(pl.col("uri") == "still.mp4")
    assert faces.height == 6  # 3 s at fps:2, one face each
    for (_,), track in faces.group_by("track_id"):
        kept = track.filter(pl.col("status") == "ok")
        assert kept.height == 1
        duplicates = track.filter(pl.col("status") == "duplicate")
        assert duplicates.height == track.height - 1 and duplicates["duplicate_of"].unique().to_list() == kept["face_id"].to_list()
        assert kept["quality_score"][0] == track["quality_score"].max()  # the best is the one kept


def test_a_moving_face_keeps_a_face_each_time_its_crop_changes(curated):
    out, _ = curated
    faces = pl.read_parquet(out / "faces.parquet").filter(pl.col("uri") == "lin.mp4")
    assert faces["track_id"].n_unique() == 1 and faces.filter(pl.col("status") == "ok").height == faces.height == 8


def test_duplicates_are_decided_best_first_within_a_track_only():
    faces = pl.DataFrame(
        {
            "face_id": ["a", "b", "c", "d", "e"],
            "track_id": ["t1", "t1", "t1", "t2", "t1"],
            "status": ["ok", "ok", "ok", "ok", "filtered"],
            "quality_score": [0.5, 0.9, 0.7, 0.4, 0.99],
            "pts_s": [0.0, 1.0, 2.0, 0.0, 3.0],
            "crop_phash": ["0000000000000000", "0000000000000001", "ffffffffffffffff", "0000000000000000", "0000000000000000"],
        }
    )
    decided = pl.from_arrow(DuplicateStage(DuplicateParams(max_distance=4))(faces))
    assert decided.rows() == [
        ("a", "duplicate", "b"),  # b is better and 1 bit away
        ("b", "ok", None),
        ("c", "ok", None),  # 63 bits away: kept
        ("d", "ok", None),  # same hash as a, but another track
        ("e", "filtered", None),  # filtered faces keep their status
    ]


def test_a_reencoded_smaller_copy_is_flagged_near_duplicate_of_the_original(curated):
    out, _ = curated
    videos = {r["uri"]: r for r in pl.read_parquet(out / "videos.parquet").iter_rows(named=True)}
    assert videos["ham_small.mp4"]["near_duplicate_of"] == videos["hamilton.mp4"]["video_id"]
    assert videos["hamilton.mp4"]["near_duplicate_of"] is None
    assert videos["lin.mp4"]["near_duplicate_of"] is None  # an excerpt covers little of hamilton: not flagged
    assert videos["cut.mp4"]["near_duplicate_of"] is None and videos["still.mp4"]["near_duplicate_of"] is None


def _video(video_id: str, hashes: list[int], original: str | None = None, pixels: int = 100) -> dict:
    return {"video_id": video_id, "uri": f"{video_id}.mp4", "original": original, "pixels": pixels, "size_bytes": 1,
            "frame_phashes": [f"{h:016x}" for h in hashes]}  # fmt: skip


def test_near_duplicate_videos_match_both_ways_and_prefer_an_original():
    rng = np.random.default_rng(7)
    base = [int(v) for v in rng.integers(0, 2**63, 10)]
    noisy = [h ^ (1 << int(rng.integers(0, 60))) for h in base]  # one bit off in every frame
    videos = pl.DataFrame(
        [
            _video("clip", base, pixels=100),
            _video("fake", noisy, original="clip.mp4", pixels=400),  # more pixels, but made from clip
            _video("excerpt", base[:3]),
            _video("other", [int(v) for v in rng.integers(0, 2**63, 10)]),
        ]
    )
    flags = dict(pl.from_arrow(NearDuplicateVideos(NearDuplicateParams(max_distance=4, min_share=0.8))(videos)).iter_rows())
    assert flags == {"clip": None, "fake": "clip", "excerpt": None, "other": None}
    hashes = [hash_ints(v) for v in videos["frame_phashes"].to_list()]
    assert (0, 1) in candidate_pairs(hashes) and (0, 2) in candidate_pairs(hashes)
    assert share_matched(hashes[2], hashes[0], 0) == 1.0 and share_matched(hashes[0], hashes[2], 0) == 0.3


def test_hamming_counts_differing_bits():
    a = hash_ints(["ffffffffffffffff", "0000000000000000", "8000000000000001"])
    assert hamming(a[:, None], a[None, :]).tolist() == [[0, 64, 62], [64, 0, 2], [62, 2, 0]]
