"""``facecorpus forget``: erase a video, uri, subject or identity from the dataset, its releases and their copies.

In order: select the target in the current manifests and in every old release;
clear its bytes from the DVC cache and the default remote (old shards deleted and
replaced by repacks without it; old reports' pages and images showing it deleted,
``privacy/reports.py``); append the erasure to the log (what, when, why, the
ids and content hashes; no face data), which from then on is the deny-list; remove it
from the working tree (work folders or rows, crops, run records, reports); rewrite
the manifests (``run_extract``, the log applied: stored work is reused where it is still valid; a fake
whose erased original lent it its detections detects on its own), the training view
and the release folder (changed shards only). Commit the log, then ``dvc repro`` and
``facecorpus release`` make the next version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipeline.config import Options
from pipeline.corpus.erasures import SCOPE_VIDEO, Erasure, append_erasure
from pipeline.privacy.dvcstore import DvcStore
from pipeline.privacy.registry import drop_identities, erased_identities
from pipeline.privacy.reports import report_objects
from pipeline.privacy.scrub import drop_erased_rows, scrub_tree
from pipeline.privacy.select import EMPTY, Manifests, Selected, Target, select
from pipeline.privacy.sweep import SweepResult, in_old_releases, sweep
from pipeline.runs.lock import folders_lock
from schemas.manifests import FACES_MANIFEST, IDENTITIES_MANIFEST, PAIRS_MANIFEST, VIDEOS_MANIFEST


@dataclass(frozen=True)
class ForgetResult:
    erasure: Erasure
    tree_changes: int
    faces_now: int
    swept_reports: tuple[str, ...] = ()  # old releases' report objects deleted (md5s)


def forget(options: Options, target: Target, reason: str, repo: Path | None = None, remote: str | None = None) -> ForgetResult:
    """Erase ``target`` (``repo``: the git + DVC project whose cache and remote to clear; None: the tree only),
    holding the dataset's lock: no run writes the dataset meanwhile."""
    with folders_lock([options.extract.detect_dir, options.extract.out_dir]):
        return _forget(options, target, reason, repo, remote)


def _forget(options: Options, target: Target, reason: str, repo: Path | None, remote: str | None) -> ForgetResult:
    if not reason.strip():
        raise ValueError("forget needs --reason: the erasure log records why")
    if not options.policy.erasures:
        raise ValueError("policy.erasures is not set: forget needs the erasure log's path (params.yaml or --erasures)")
    current = _current(options, target)
    store = DvcStore(repo, remote) if repo is not None else None
    erased = current | (in_old_releases(store, options.pack.out, target) if store and options.pack.out else EMPTY)
    if not erased.face_ids and not erased.video_ids:
        raise ValueError(f"nothing to erase: no video or face matches --{target.kind} {target.value}")
    swept = sweep(store, erased, _report_objects(store, options, erased, target.scope)) if store is not None else SweepResult()
    erasure = _record(target, reason, erased, swept)
    append_erasure(Path(options.policy.erasures), erasure)
    identities = erased_identities(options.extract.out_dir, erased.face_ids)  # before the faces go
    changes = scrub_tree(options, erased, target.scope)
    changes += drop_identities(options.extract.out_dir, identities)  # before curation reads the registry
    faces_now = _rewrite(options)
    for folder in (options.extract.out_dir, options.select.out, options.pack.out):
        if folder and Path(folder).is_dir():
            changes += drop_erased_rows(Path(folder), erased, target.scope)
    return ForgetResult(erasure, changes, faces_now, swept.reports)


def _report_objects(store: DvcStore, options: Options, erased: Selected, scope: str) -> list[str]:
    """Old releases' report pages and images that show an erased face (or name a video erased whole)."""
    if not options.pack.out:
        return []
    ids = erased.face_ids | (erased.video_ids if scope == SCOPE_VIDEO else frozenset())
    return list(report_objects(store, options.pack.out, ids))


def _current(options: Options, target: Target) -> Selected:
    out = options.extract.out_dir
    if not (out / FACES_MANIFEST).is_file():
        return EMPTY

    def table(name: str) -> pl.DataFrame | None:
        return pl.read_parquet(out / name) if (out / name).is_file() else None

    tables = Manifests(pl.read_parquet(out / FACES_MANIFEST), table(VIDEOS_MANIFEST), table(IDENTITIES_MANIFEST), table(PAIRS_MANIFEST))
    return select(target, tables, str(out))


def _record(target: Target, reason: str, erased: Selected, swept: SweepResult) -> Erasure:
    when = datetime.now(UTC).isoformat(timespec="seconds")
    ids = json.dumps([target.kind, target.value, when, sorted(erased.face_ids), sorted(erased.video_ids)])
    return Erasure(
        erasure_id=hashlib.sha256(ids.encode()).hexdigest()[:16],
        erased_at=when,
        reason=reason.strip(),
        target_kind=target.kind,
        target=target.value,
        scope=target.scope,
        video_ids=tuple(sorted(erased.video_ids)),
        face_ids=tuple(sorted(erased.face_ids)),
        crop_sha256=tuple(sorted(erased.crop_sha256)),
        shard_md5=swept.deleted,
        replaced_by=swept.replaced_by,
    )


def _rewrite(options: Options) -> int:
    """Manifests from stored work with the log applied, then the training view and the release folder."""
    from pipeline.curate.select import write_selection
    from pipeline.release.pack import pack_dataset
    from pipeline.runs.extract import run_extract

    out = options.extract.out_dir
    if not (out / FACES_MANIFEST).is_file():
        return 0
    # A run, not curation alone: work is reused wherever it is still valid, but a fake that
    # reused its erased original's detections (pair-aware extraction) must detect on its own now.
    summary = run_extract(options.extract, options.curate, policy=options.policy)
    if options.select.out and Path(options.select.out).is_dir():
        write_selection(replace(options.select, dataset=str(out)))
    if options.pack.out and (Path(options.pack.out) / FACES_MANIFEST).is_file():
        pack_dataset(out, Path(options.pack.out), options.pack.shard_mb)
    return summary.faces
