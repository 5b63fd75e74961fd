"""Which corpus videos enter a run: the policy (params.yaml ``policy``) and the erasure log's deny-list.

Every run (extract, the DVC stages, the ingest flow) snapshots the corpus through
:func:`admit`: an erased video (by content hash, whatever its uri now) is left out
entirely, so no manifest row names it again; a video that breaks the policy becomes
an ``excluded`` row with its reason and none of its frames is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import ExtractOptions, PolicyOptions
from pipeline.corpus.erasures import DenyList, read_erasures
from pipeline.corpus.load import load_corpus
from pipeline.corpus.snapshot import VideoInput, snapshot


@dataclass(frozen=True)
class Excluded:
    item: VideoInput
    reason: str


@dataclass(frozen=True)
class Admission:
    admitted: tuple[VideoInput, ...]
    excluded: tuple[Excluded, ...] = ()
    denied: int = 0
    deny: DenyList = field(default_factory=DenyList)


def admit(extract: ExtractOptions, policy: PolicyOptions | None = None) -> Admission:
    """The corpus of ``extract`` split by ``policy`` (None: no rules, no erasure log)."""
    inputs = snapshot(load_corpus(extract.corpus_path))
    if policy is None:
        return Admission(tuple(inputs))
    deny = read_erasures(Path(policy.erasures) if policy.erasures else None)
    rules, denied = policy, deny.videos
    kept = [i for i in inputs if i.video_id not in denied]
    admitted, excluded = [], []
    for item in kept:
        reason = rules.violation(item.entry.fields) if item.problem is None else None
        if reason is None:
            admitted.append(item)
        else:
            excluded.append(Excluded(item, reason))
    return Admission(tuple(admitted), tuple(excluded), len(inputs) - len(kept), deny)
