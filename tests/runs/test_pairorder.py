"""The order of a pair-aware run: originals before their fakes, chains by depth, fakes cut into their original's shard."""

from __future__ import annotations

from pathlib import Path

from pipeline.corpus.load import CorpusEntry
from pipeline.corpus.plan import plan
from pipeline.corpus.snapshot import VideoInput
from pipeline.runs.pairorder import pair_order


def _input(uri: str, original: str | None = None) -> VideoInput:
    return VideoInput(f"id-{uri}", CorpusEntry(uri, Path(uri), {"original": original}), size_bytes=1)


def test_originals_come_first_chains_by_depth_and_missing_originals_are_named_none():
    inputs = [_input("a_fake.mp4", "z_orig.mp4"), _input("b_fake_of_fake.mp4", "a_fake.mp4"), _input("c.mp4"),
              _input("d_lost.mp4", "gone.mp4"), _input("z_orig.mp4")]  # fmt: skip
    order = pair_order(inputs)
    assert [i.entry.uri for i in order.inputs] == ["c.mp4", "d_lost.mp4", "z_orig.mp4", "a_fake.mp4", "b_fake_of_fake.mp4"]
    assert order.originals == {"id-a_fake.mp4": "id-z_orig.mp4", "id-b_fake_of_fake.mp4": "id-a_fake.mp4", "id-d_lost.mp4": None}
    assert [[i.entry.uri for i in wave] for wave in order.waves()] == [
        ["c.mp4", "d_lost.mp4", "z_orig.mp4"], ["a_fake.mp4"], ["b_fake_of_fake.mp4"]
    ]  # fmt: skip
    assert order.family()["id-b_fake_of_fake.mp4"] == "z_orig.mp4" and order.family()["id-c.mp4"] == "c.mp4"


def test_shards_hold_fakes_with_their_original(tmp_path):
    inputs = [_input("a.mp4"), _input("m_fake.mp4", "z.mp4"), _input("b.mp4"), _input("z.mp4"), _input("n_fake.mp4", "z.mp4")]
    shards = plan(tmp_path, inputs, {"detect": "x"}, 3, 10**9, pair_order(inputs).family())
    assert [list(s.video_ids) for s in shards] == [["id-a.mp4", "id-b.mp4"], ["id-z.mp4", "id-m_fake.mp4", "id-n_fake.mp4"]]
    plain = plan(tmp_path / "plain", inputs, {"detect": "x"}, 3, 10**9)  # no families: uri order, as before
    assert [list(s.video_ids) for s in plain] == [["id-a.mp4", "id-b.mp4", "id-m_fake.mp4"], ["id-n_fake.mp4", "id-z.mp4"]]
