"""The dataset card of a release: counts, sources, licences, consent, models, parameters,
validation, and what changed since the previous release (``releases/<version>.json`` and ``.md``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from pipeline.config import REPORT_DIR, Options
from pipeline.release.responsible import responsible_data, responsible_lines
from schemas.manifests import FACES_MANIFEST, FILTER_REASONS, SHARD_INDEX, TRACKS_MANIFEST, VIDEOS_MANIFEST

RELEASES_DIR = "releases"
REPORT_NAME = "validation.json"


@dataclass(frozen=True)
class ReleasePaths:
    """Where a release's parts are in the project, from params.yaml (``pack.out``, the reports folders)."""

    release_dir: Path
    report: Path
    release_report: Path

    @classmethod
    def of(cls, repo: Path, options: Options) -> ReleasePaths:
        dataset = repo / options.extract.out_dir
        release_dir = repo / _required(options.pack.out, "pack.out")
        release_reports = repo / options.pack.reports_dir if options.pack.reports_dir else release_dir / "reports"
        return cls(release_dir, repo / options.validate.reports_path(dataset) / REPORT_NAME, release_reports / REPORT_NAME)


def _required(value: str | None, key: str) -> Path:
    if not value:
        raise ValueError(f"{key} is not set in the params file")
    return Path(value)


def dataset_card(version: str, repo: Path, paths: ReleasePaths, options: Options) -> dict:
    faces = pl.read_parquet(paths.release_dir / FACES_MANIFEST)
    videos = pl.read_parquet(paths.release_dir / VIDEOS_MANIFEST)
    shards = pl.read_parquet(paths.release_dir / SHARD_INDEX)
    report = json.loads(paths.report.read_text(encoding="utf-8"))
    params = options.to_json()
    ok = videos.filter(pl.col("status") == "ok")
    card = {
        "version": version,
        "counts": {
            "videos": videos.height,
            "videos_ok": ok.height,
            "videos_failed": int((videos["status"] == "failed").sum()),
            "videos_excluded": int((videos["status"] == "excluded").sum()),
            "faces": faces.height,
            "shards": shards.height,
            "shard_bytes": int(shards["size_bytes"].sum() or 0),
        },
        "sources": _value_counts(videos, "source"),
        "licenses": _value_counts(videos, "license"),
        "consent": _value_counts(videos, "consent"),
        "labels": _value_counts(faces, "label"),
        "curation": _curation(faces, videos, paths.release_dir / TRACKS_MANIFEST),
        "parameters": params,
        "detectors": sorted(faces["detector_version"].unique().to_list()) or sorted(ok["detector_version"].unique().to_list()),
        "presets": sorted(faces["preset"].unique().to_list()),
        "shards_sha256": dict(shards.select("shard", "sha256").rows()),
        "validation": {
            "passed": report.get("passed"),
            "errors": [c["check"] for c in report.get("errors", [])],
            "warnings": [c["check"] for c in report.get("warnings", [])],
            "suites": {name: s["rows"] for name, s in report.get("suites", {}).items()},
            "data_docs": f"{paths.report.parent.relative_to(repo).as_posix()}/{report['data_docs']}" if report.get("data_docs") else None,
        },
        "video_ids": sorted(videos["video_id"].to_list()),
        # The offline HTML report that the pack stage writes into the release (pipeline/report).
        "report": _report_link(repo, paths.release_dir),
    }
    card["changes"] = _changes(repo, card)
    previous = card["changes"]["previous"]
    card["responsible"] = responsible_data(repo, faces, options, repo / RELEASES_DIR / f"{previous}.json" if previous else None)
    return card


def _report_link(repo: Path, release_dir: Path) -> str | None:
    from pipeline.report.build import INDEX

    index = release_dir / REPORT_DIR / INDEX
    return index.relative_to(repo).as_posix() if index.is_file() else None


def _curation(faces: pl.DataFrame, videos: pl.DataFrame, tracks: Path) -> dict:
    """Faces kept, filtered and duplicate; filtered faces by first reason and by every rule failed."""
    status = dict(faces.group_by("status").len().iter_rows())
    first = dict(faces.drop_nulls("filter_reason").group_by("filter_reason").len().iter_rows())
    every = dict(faces.select(pl.col("filter_reasons").explode().drop_nulls()).group_by("filter_reasons").len().iter_rows())
    return {
        "kept": status.get("ok", 0),
        "filtered": status.get("filtered", 0),
        "duplicate": status.get("duplicate", 0),
        "filtered_by_reason": {r: first[r] for r in FILTER_REASONS if r in first},
        "failed_rules": {r: every[r] for r in FILTER_REASONS if r in every},
        "tracks": pl.read_parquet(tracks).height if tracks.is_file() else None,
        "near_duplicate_videos": int(videos["near_duplicate_of"].is_not_null().sum()),
    }


def _value_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counts = frame.group_by(column).len().sort(column, nulls_last=True).rows()
    return {("(none)" if value is None else str(value)): int(n) for value, n in counts}


def _curation_lines(c: dict) -> list[str]:
    return [
        f"- faces kept: {c['kept']}, filtered: {c['filtered']}, duplicate (near-identical crop in its track): {c['duplicate']}",
        *[f"- filtered `{k}` (first rule failed): {v}" for k, v in c["filtered_by_reason"].items()],
        f"- rules failed, counting every rule a face failed: {', '.join(f'{k} {v}' for k, v in c['failed_rules'].items()) or 'none'}",
        f"- tracks: {c['tracks']}; videos flagged near_duplicate_of another: {c['near_duplicate_videos']}",
    ]


def _changes(repo: Path, card: dict) -> dict:
    previous = sorted((repo / RELEASES_DIR).glob("*.json"), key=lambda p: [int(x) for x in p.stem[1:].split(".")])
    previous = [p for p in previous if p.stem != card["version"]]
    if not previous:
        return {"previous": None}
    old = json.loads(previous[-1].read_text(encoding="utf-8"))
    before, after = set(old["video_ids"]), set(card["video_ids"])
    changed_params = sorted(
        k for k in set(old["parameters"]) | set(card["parameters"]) if old["parameters"].get(k) != card["parameters"].get(k)
    )
    return {
        "previous": old["version"],
        "videos_added": len(after - before),
        "videos_removed": len(before - after),
        "faces_delta": card["counts"]["faces"] - old["counts"]["faces"],
        "parameter_sections_changed": changed_params,
        "detectors_changed": old["detectors"] != card["detectors"],
    }


def card_markdown(card: dict) -> str:
    c, ch = card["counts"], card["changes"]
    lines = [
        f"# facecorpus dataset {card['version']}",
        "",
        f"{c['faces']} faces from {c['videos_ok']} videos ({c['videos_failed']} inputs failed), "
        f"in {c['shards']} shards ({c['shard_bytes']} bytes).",
        "",
        "## Curation",
        "",
        *_curation_lines(card["curation"]),
        "",
        "## Sources, licences, consent",
        "",
        *[f"- source `{k}`: {v} videos" for k, v in card["sources"].items()],
        *[f"- licence `{k}`: {v} videos" for k, v in card["licenses"].items()],
        *[f"- consent `{k}`: {v} videos" for k, v in card["consent"].items()],
        "",
        *responsible_lines(card.get("responsible")),
        "## Models and parameters",
        "",
        *[f"- detector `{d}`" for d in card["detectors"]],
        *[f"- preset `{p}`" for p in card["presets"]],
        "",
        "```yaml",
        yaml.safe_dump(card["parameters"], sort_keys=True).strip(),
        "```",
        "",
        "## Validation",
        "",
        f"- passed: {card['validation']['passed']} (warnings: {', '.join(card['validation']['warnings']) or 'none'})",
        f"- suites: {', '.join(f'{k} ({v} rows)' for k, v in card['validation']['suites'].items())}",
        f"- Data Docs: [{card['validation']['data_docs']}](../{card['validation']['data_docs']})",
        *(
            [f"- Dataset report (contact sheets, plots, a page per video, plain-words validation): [{card['report']}](../{card['report']})"]
            if card.get("report")
            else []
        ),
        "",
        "## Changes since the previous release",
        "",
    ]
    if ch["previous"] is None:
        lines.append("- first release")
    else:
        lines += [
            f"- previous: {ch['previous']}",
            f"- videos added: {ch['videos_added']}, removed: {ch['videos_removed']}",
            f"- faces: {ch['faces_delta']:+d}",
            f"- parameter sections changed: {', '.join(ch['parameter_sections_changed']) or 'none'}",
            f"- detector changed: {ch['detectors_changed']}",
        ]
    return "\n".join(lines) + "\n"
