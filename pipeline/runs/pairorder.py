"""The order of a pair-aware run: each original before the fakes that name it.

A fake reuses its original's stored detections (``pipeline/stages/pairing.py``),
so the run resolves every fake's corpus ``original`` to a video of the corpus
(as Curation II does: ``pipeline/curate/pairs.py:resolve_originals``) and
processes originals first, chains (a fake of a fake) by depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipeline.corpus.snapshot import VideoInput
from pipeline.curate.pairs import resolve_originals


@dataclass(frozen=True)
class PairOrder:
    """The inputs in processing order, and fake video_id -> its original's (None: not in the corpus)."""

    inputs: tuple[VideoInput, ...]
    originals: dict[str, str | None]

    def waves(self) -> list[list[VideoInput]]:
        """The inputs in waves: each wave's originals are all in earlier waves (a pool runs a wave at once)."""
        depth = {i.video_id: self.depth(i.video_id) for i in self.inputs}
        out: list[list[VideoInput]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for item in self.inputs:
            out[depth[item.video_id]].append(item)
        return out

    def family(self) -> dict[str, str]:
        """video_id -> the uri of the first video of its chain of originals (itself when it names none)."""
        uris = {i.video_id: i.entry.uri for i in self.inputs}
        out = {}
        for item in self.inputs:
            root, seen = item.video_id, {item.video_id}
            while (up := self.originals.get(root)) is not None and up not in seen and up in uris:
                root = up
                seen.add(up)
            out[item.video_id] = uris[root]
        return out

    def depth(self, video_id: str) -> int:
        seen = {video_id}
        while (video_id := self.originals.get(video_id)) is not None and video_id not in seen:
            seen.add(video_id)
        return len(seen) - 1


def pair_order(inputs: list[VideoInput]) -> PairOrder:
    """Resolve each input's ``original`` among ``inputs`` and order originals first (stable otherwise)."""
    videos = pl.DataFrame(
        {
            "video_id": [i.video_id for i in inputs],
            "uri": [i.entry.uri for i in inputs],
            "duplicate_uris": [list(i.duplicate_uris) for i in inputs],
            "original": [i.entry.fields.get("original") for i in inputs],
        },
        schema={"video_id": pl.String, "uri": pl.String, "duplicate_uris": pl.List(pl.String), "original": pl.String},
    )
    resolved = resolve_originals(videos)
    originals: dict[str, str | None] = dict(resolved.of)
    missing = {uri for uri, _ in resolved.missing}
    originals |= {i.video_id: None for i in inputs if i.entry.uri in missing}
    order = PairOrder(tuple(inputs), originals)
    ranked = sorted(range(len(inputs)), key=lambda k: (order.depth(inputs[k].video_id), k))
    return PairOrder(tuple(inputs[k] for k in ranked), originals)
