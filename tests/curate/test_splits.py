"""Split assignment by group: property and policy tests on synthetic face tables (no media needed)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.curate.splits import SplitRatios, assign_splits

RATIOS = SplitRatios(0.8, 0.1, 0.1)


def _faces(rows: list[tuple[str, str, str | None, str | None]]) -> pl.DataFrame:
    """(face_id, video_id, identity_id, corpus split) rows."""
    return pl.DataFrame(
        rows, schema={"face_id": pl.String, "video_id": pl.String, "identity_id": pl.String, "split": pl.String}, orient="row"
    )


corpora = st.lists(
    st.tuples(st.integers(0, 7), st.one_of(st.none(), st.integers(0, 5)), st.one_of(st.none(), st.sampled_from(["train", "test"]))),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(corpora, st.dictionaries(st.integers(0, 7), st.integers(0, 7), max_size=4), st.booleans())
def test_no_group_spans_two_splits(rows, fakes, reassign):
    faces = _faces([(f"f{i}", f"v{v}", None if p is None else f"p{p}", s) for i, (v, p, s) in enumerate(rows)])
    originals = {f"v{a}": f"v{b}" for a, b in fakes.items() if a != b}
    result = assign_splits(faces, originals, None, RATIOS, reassign)
    split = dict(zip(result.face_split["face_id"], result.face_split["split_assigned"]))
    assert None not in split.values()
    by_person: dict[str, set] = {}
    for face_id, _, person, _ in faces.iter_rows():
        if person is not None:
            by_person.setdefault(person, set()).add(split[face_id])
    assert all(len(s) == 1 for s in by_person.values())
    by_video = {v: {split[f] for f, vv, _, _ in faces.iter_rows() if vv == v} for v in set(faces["video_id"])}
    for fake, original in originals.items():  # a fake and its original, every face of both: one split
        assert len(by_video.get(fake, set()) | by_video.get(original, set())) <= 1
    groups = result.registry.group_by("group_id").agg(pl.col("split").n_unique())
    assert (groups["split"] == 1).all()


def test_corpus_split_is_kept_unless_reassigned():
    faces = _faces([("a", "v1", "p1", "test"), ("b", "v1", "p1", "test"), ("c", "v2", None, "val")])
    kept = assign_splits(faces, {}, None, RATIOS, reassign=False)
    assert kept.face_split["split_assigned"].to_list() == ["test", "test", "val"]
    assert set(kept.registry["source"]) == {"corpus"}
    hashed = assign_splits(faces, {}, None, RATIOS, reassign=True)
    assert set(hashed.registry["source"]) == {"hash"}
    # a recorded corpus split is not kept when asked to reassign
    again = assign_splits(faces, {}, kept.registry, RATIOS, reassign=True)
    assert again.face_split["split_assigned"].to_list() == hashed.face_split["split_assigned"].to_list()


def test_recorded_groups_never_move_and_the_larger_wins_a_merge():
    first = _faces([*[(f"a{i}", "v1", "p1", "train") for i in range(5)], ("b0", "v2", "p2", "test")])
    recorded = assign_splits(first, {}, None, RATIOS, reassign=False).registry
    # a new video of p2 in the corpus with another split: p2's recorded split holds
    more = _faces([*first.rows(), ("c0", "v3", "p2", "train")])
    grown = assign_splits(more, {}, recorded, RATIOS, reassign=False)
    assert dict(zip(grown.face_split["face_id"], grown.face_split["split_assigned"]))["c0"] == "test"
    assert grown.moved == ()
    # a new fake (v4, of v1) holding p2's face joins both groups: p1 (5 faces) keeps train, p2 moves and is reported
    merged = assign_splits(_faces([*more.rows(), ("d0", "v4", "p2", None)]), {"v4": "v1"}, grown.registry, RATIOS, reassign=False)
    assert set(merged.face_split["split_assigned"]) == {"train"} and merged.moved == ("identity:p2",)


def test_hash_split_follows_the_ratios():
    picks = [RATIOS.pick(f"video:{i}") for i in range(5000)]
    assert abs(picks.count("train") / 5000 - 0.8) < 0.03 and abs(picks.count("test") / 5000 - 0.1) < 0.02
    assert SplitRatios(0.0, 0.0, 1.0).pick("anything") == "test"
