"""Identities on the fixture corpus (the session's one extraction: hamilton.mp4 at fps:1 and the
stills, real CenterFace, real dlib), and the incremental registry on synthetic vectors."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.curate.identities import SOURCE_SUBJECT, TrackVectors, assign_identities, subject_identity
from pipeline.curate.neighbors import chinese_whispers, threshold_edges
from schemas.manifests import EMBEDDINGS_MANIFEST, FACES_MANIFEST, IDENTITIES_MANIFEST

# hamilton.mp4 at fps:1: frames 4-7 (0-based) show one large face, Lin-Manuel Miranda's close-up.
CLOSE_UP_FRAMES = (4, 5, 6, 7)


@pytest.fixture(scope="module")
def faces(extracted) -> pl.DataFrame:
    out, _ = extracted
    return pl.read_parquet(out / FACES_MANIFEST)


def test_people_of_one_photo_get_different_identities(faces):
    for uri, count in (("two_people.jpg", 2), ("obama_and_biden.jpg", 3)):
        ids = faces.filter(pl.col("uri") == uri)["identity_id"].to_list()
        assert len(ids) == count and None not in ids
        assert len(set(ids)) == count, uri


def test_hamilton_close_up_is_one_identity_across_frames(faces):
    close_up = faces.filter((pl.col("uri") == "hamilton.mp4") & pl.col("frame_index").is_in(CLOSE_UP_FRAMES))
    assert close_up.height >= 4
    largest = close_up.sort("face_size_px", descending=True).unique("frame_index", keep="first")
    assert largest["identity_id"].n_unique() == 1
    # and that person is nobody of the stills
    stills = faces.filter(pl.col("uri") != "hamilton.mp4")["identity_id"].to_list()
    assert largest["identity_id"][0] not in stills


def test_every_face_has_an_identity_and_the_registry_counts_them(extracted, faces):
    out, summary = extracted
    assert faces["identity_id"].null_count() == 0
    registry = pl.read_parquet(out / IDENTITIES_MANIFEST)
    live = registry.filter(pl.col("alias_of").is_null() & (pl.col("faces") > 0))
    assert set(live["identity_id"]) == set(faces["identity_id"])
    assert live["faces"].sum() == faces.height
    assert summary.curation.groups.identities == live.height
    embedded = pl.read_parquet(out / EMBEDDINGS_MANIFEST)
    per_track = embedded.join(faces.select("face_id", "track_id"), on="face_id").group_by("track_id").len()
    assert per_track["len"].max() <= 3 and per_track.height == faces["track_id"].n_unique()
    assert embedded["embedder"].str.starts_with("dlib_resnet_v1:").all()


def _blobs(rng, people: int, per_person: int, dim: int = 32, spread: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((people, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(people), per_person)
    v = centres[labels] + spread * rng.standard_normal((len(labels), dim)) / np.sqrt(dim)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), labels


def test_chinese_whispers_recovers_separated_people():
    vectors, labels = _blobs(np.random.default_rng(1), people=20, per_person=6)
    found = chinese_whispers(len(vectors), threshold_edges(vectors, 0.3))
    assert len(set(found)) == 20
    assert all(len(set(found[labels == p])) == 1 for p in range(20))


def _tracks(vectors: np.ndarray, prefix: str, subjects=None) -> TrackVectors:
    ids = [f"{prefix}{i:04d}" for i in range(len(vectors))]
    return TrackVectors(ids, vectors, subjects or [None] * len(vectors))


def test_new_tracks_join_existing_identities_and_ids_stay():
    rng = np.random.default_rng(2)
    vectors, labels = _blobs(rng, people=5, per_person=4)
    first = assign_identities(_tracks(vectors[::2], "a"), None, {}, 0.3, "emb")
    again = assign_identities(_tracks(vectors[::2], "a"), first.registry, first.track_identity, 0.3, "emb")
    assert again.track_identity == first.track_identity and again.created == 0
    both = TrackVectors(
        [*first.track_identity, *[f"b{i:04d}" for i in range(10)]], np.concatenate([vectors[::2], vectors[1::2]]), [None] * 20
    )
    grown = assign_identities(both, first.registry, first.track_identity, 0.3, "emb")
    assert grown.created == 0
    person = np.concatenate([labels[::2], labels[1::2]])
    identity_of_person = {person[t]: first.track_identity[tid] for t, tid in enumerate(both.track_ids[:10])}
    assert len(set(identity_of_person.values())) == 5
    for t, tid in enumerate(both.track_ids):  # a new track of a known person gets that person's identity
        assert grown.track_identity[tid] == identity_of_person[person[t]]


def test_a_bridge_merges_two_identities_with_an_alias_and_subject_wins():
    a = np.array([1.0, 0.0, 0.0], np.float32)
    b = np.array([np.cos(0.5), np.sin(0.5), 0.0], np.float32)  # 0.49 from a: apart at 0.3
    first = assign_identities(_tracks(np.stack([a, b]), "t"), None, {}, 0.3, "emb")
    ida, idb = first.track_identity["t0000"], first.track_identity["t0001"]
    assert ida != idb
    middle = np.array([np.cos(0.25), np.sin(0.25), 0.0], np.float32)  # 0.25 from both
    tracks = TrackVectors(["t0000", "t0001", "t0002", "t0003"], np.stack([a, b, middle, middle]), [None, None, None, None])
    merged = assign_identities(tracks, first.registry, {}, 0.3, "emb")
    assert len(set(merged.track_identity.values())) == 1 and merged.merged == 1
    survivor = next(iter(set(merged.track_identity.values())))
    assert survivor in (ida, idb)
    aliased = merged.registry.filter(pl.col("alias_of").is_not_null())
    assert aliased["identity_id"].to_list() == [({ida, idb} - {survivor}).pop()] and aliased["alias_of"].to_list() == [survivor]
    # a corpus subject wins over the cluster it falls in
    named = TrackVectors(["t0000", "t0001", "s0000"], np.stack([a, b, a]), [None, None, "Barack Obama"])
    result = assign_identities(named, merged.registry, merged.track_identity, 0.3, "emb")
    assert result.track_identity["s0000"] == subject_identity("Barack Obama")
    row = result.registry.filter(pl.col("identity_id") == subject_identity("Barack Obama")).row(0, named=True)
    assert row["source"] == SOURCE_SUBJECT and row["subject"] == "Barack Obama"


def test_another_embedders_registry_is_not_reused():
    v = np.eye(3, dtype=np.float32)
    first = assign_identities(_tracks(v, "t"), None, {}, 0.3, "emb-a")
    other = assign_identities(_tracks(v, "t"), first.registry, first.track_identity, 0.3, "emb-b")
    assert other.created == 3 and not set(other.track_identity.values()) & set(first.track_identity.values())
    kept = other.registry.filter(pl.col("embedder") == "emb-a")  # the old ids stay in the registry
    assert set(kept["identity_id"]) == set(first.track_identity.values())


def test_bucketed_graph_finds_the_exact_graphs_pairs_and_no_others(monkeypatch):
    """Above EXACT_MAX vectors the graph is built within k-means buckets: a subset of the exact pairs, nearly all of them."""
    import pipeline.curate.neighbors as neighbors

    vectors, _ = _blobs(np.random.default_rng(4), people=300, per_person=10, spread=0.08)
    exact = neighbors.threshold_edges(vectors, 0.3, max_neighbors=20)  # no cap binds: 9 others per person
    monkeypatch.setattr(neighbors, "EXACT_MAX", 500)
    monkeypatch.setattr(neighbors, "BUCKET_SIZE", 300)
    bucketed = neighbors.threshold_edges(vectors, 0.3, max_neighbors=20)
    exact_pairs, found = set(zip(exact.i.tolist(), exact.j.tolist())), set(zip(bucketed.i.tolist(), bucketed.j.tolist()))
    assert found <= exact_pairs and len(found) >= 0.9 * len(exact_pairs)
    assert np.allclose(np.sort(bucketed.distance), np.sort(np.linalg.norm(vectors[bucketed.i] - vectors[bucketed.j], axis=1)), atol=1e-4)
