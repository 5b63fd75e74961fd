"""The dataset card of a release: counts, sources, licences, consent, models, parameters,
validation, and what changed since the previous release (``releases/<version>.json`` and ``.md``)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from pipeline.config import REPORT_DIR, VALIDATION_REPORT, Options
from pipeline.release.changes import RELEASES_DIR, change_lines, changes, previous_card, read_metrics
from pipeline.release.responsible import responsible_data, responsible_lines
from pipeline.report.build import INDEX, VALIDATION_PAGE
from schemas.manifests import FACES_MANIFEST, FILTER_REASONS, SHARD_INDEX, TRACKS_MANIFEST, VIDEOS_MANIFEST

__all__ = ["RELEASES_DIR", "ReleasePaths", "card_markdown", "dataset_card"]
# Corpus fields counted per value in the card (faces and kept faces).
BREAKDOWN_FIELDS = ("split", "subject", "label")


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
        return cls(release_dir, repo / options.validate.reports_path(dataset) / VALIDATION_REPORT, release_reports / VALIDATION_REPORT)


def _required(value: str | None, key: str) -> Path:
    if not value:
        raise ValueError(f"{key} is not set in the params file")
    return Path(value)


def dataset_card(version: str, repo: Path, paths: ReleasePaths, options: Options, commit: str) -> dict:
    """The card of ``version``: ``commit`` is the git commit the data was built from (the release commits on top)."""
    faces = pl.read_parquet(paths.release_dir / FACES_MANIFEST)
    videos = pl.read_parquet(paths.release_dir / VIDEOS_MANIFEST)
    shards = pl.read_parquet(paths.release_dir / SHARD_INDEX)
    report = json.loads(paths.report.read_text(encoding="utf-8"))
    ok = videos.filter(pl.col("status") == "ok")
    release_dir = paths.release_dir.relative_to(repo).as_posix()
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
        # Faces and kept faces per value of the corpus fields a trainer splits and balances on.
        "by_field": {f: _faces_by(faces, f) for f in BREAKDOWN_FIELDS},
        "curation": _curation(faces, videos, paths.release_dir / TRACKS_MANIFEST),
        "crops": {"format": options.extract.crop_format, "size_px": sorted(faces["crop_size_px"].unique().to_list())},
        "intended_use": options.card.intended_use,
        "limitations": options.card.limitations,
        "parameters": options.to_json(),
        "metrics": read_metrics(repo / options.dvc.metrics_dir) if options.dvc.metrics_dir else {},
        "detectors": sorted(faces["detector_version"].unique().to_list()) or sorted(ok["detector_version"].unique().to_list()),
        "presets": sorted(faces["preset"].unique().to_list()),
        "shards_sha256": dict(shards.select("shard", "sha256").rows()),
        "git_commit": commit,
        "release_dir": release_dir,
        "dvc_md5": _dvc_hash(repo, release_dir),
        "load": load_snippet(repo, version),
        "validation": {
            "passed": report.get("passed"),
            "errors": [c["check"] for c in report.get("errors", [])],
            "warnings": [c["check"] for c in report.get("warnings", [])],
            "suites": {name: s["rows"] for name, s in report.get("suites", {}).items()},
        },
        "video_ids": sorted(videos["video_id"].to_list()),
        # The offline HTML report that the pack stage writes into the release (pipeline/report): it travels
        # with the data, so a trainer who pulled the release can open it; validation.html is its validation page.
        "report": _report_link(repo, paths.release_dir, INDEX),
        "validation_page": _report_link(repo, paths.release_dir, VALIDATION_PAGE),
    }
    card["changes"] = changes(previous_card(repo, version), card)
    previous = card["changes"]["previous"]
    card["responsible"] = responsible_data(repo, faces, options, repo / RELEASES_DIR / f"{previous}.json" if previous else None)
    return card


def _faces_by(faces: pl.DataFrame, column: str) -> dict[str, dict[str, int]]:
    counts = faces.group_by(column).agg(pl.len().alias("faces"), (pl.col("status") == "ok").sum().alias("kept"))
    rows = counts.sort(column, nulls_last=True).rows()
    return {("(none)" if value is None else str(value)): {"faces": int(n), "kept": int(k)} for value, n, k in rows}


def _dvc_hash(repo: Path, release_dir: str) -> str | None:
    """The release folder's DVC hash (``md5`` of the pack stage's output in dvc.lock): what ``dvc pull`` fetches."""
    lock = repo / "dvc.lock"
    stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {}) if lock.is_file() else {}
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path") == release_dir:
                return out.get("md5")
    return None


def load_snippet(repo: Path, version: str) -> str:
    """How a trainer loads this version: the repository's ``origin`` URL when it has one."""
    origin = subprocess.run(["git", "remote", "get-url", "origin"], cwd=repo, capture_output=True, text=True).stdout.strip()
    where = json.dumps(origin or "<this repository: its git URL or a local clone>")
    return "\n".join(
        [
            "# pip install './loader'  (facecorpus-load: the loader alone; docs/data-versions.md)",
            "import polars as pl",
            "from pipeline.dataset import load",
            f"ds = load({where}, rev={json.dumps(version)})",
            'kept = ds.faces.filter(pl.col("status") == "ok").collect()',
            'image = ds.read_crop(kept["face_id"][0])  # RGB uint8',
        ]
    )


def _report_link(repo: Path, release_dir: Path, page: str) -> str | None:
    path = release_dir / REPORT_DIR / page
    return path.relative_to(repo).as_posix() if path.is_file() else None


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
        "unchanged_pair_by_video": _unchanged_by_video(faces),
    }


def _unchanged_by_video(faces: pl.DataFrame) -> dict[str, int]:
    """uri -> faces of that fake that never changed from its original's (``unchanged_pair``), for videos with any."""
    unchanged = faces.filter(pl.col("filter_reasons").list.contains("unchanged_pair"))
    return dict(sorted(unchanged.group_by("uri").len().iter_rows()))


def _value_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counts = frame.group_by(column).len().sort(column, nulls_last=True).rows()
    return {("(none)" if value is None else str(value)): int(n) for value, n in counts}


def _curation_lines(c: dict) -> list[str]:
    return [
        f"- faces kept: {c['kept']}, filtered: {c['filtered']}, duplicate (near-identical crop in its track): {c['duplicate']}",
        *[f"- filtered `{k}` (first rule failed): {v}" for k, v in c["filtered_by_reason"].items()],
        f"- rules failed, counting every rule a face failed: {', '.join(f'{k} {v}' for k, v in c['failed_rules'].items()) or 'none'}",
        f"- tracks: {c['tracks']}; videos flagged near_duplicate_of another: {c['near_duplicate_videos']}",
        "- fake faces never changed from their original's (`unchanged_pair`), by video: "
        + (", ".join(f"{uri} {n}" for uri, n in c.get("unchanged_pair_by_video", {}).items()) or "none"),
    ]


def card_markdown(card: dict) -> str:
    c = card["counts"]
    lines = [
        f"# facecorpus dataset {card['version']}",
        "",
        f"{c['faces']} faces from {c['videos_ok']} videos ({c['videos_failed']} inputs failed), "
        f"in {c['shards']} shards ({c['shard_bytes']} bytes).",
        "",
        *_use_lines(card),
        "## Curation",
        "",
        *_curation_lines(card["curation"]),
        "",
        "## Splits, subjects, labels (kept faces / all faces)",
        "",
        *[f"- {field} `{k}`: {v['kept']} / {v['faces']}" for field, counts in card["by_field"].items() for k, v in counts.items()],
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
        *_link("Validation in plain words (inside the release)", card.get("validation_page")),
        *_link("Dataset report (contact sheets, plots, a page per video)", card.get("report")),
        "",
        "## Changes since the previous release",
        "",
        *change_lines(card["changes"], card["version"]),
    ]
    return "\n".join(lines) + "\n"


def _use_lines(card: dict) -> list[str]:
    """Intended use and limitations (params.yaml ``card``), how to load it, and what it was built from."""
    return [
        "## Intended use",
        "",
        card["intended_use"].strip(),
        "",
        "## Limitations",
        "",
        card["limitations"].strip(),
        "",
        "## How to load",
        "",
        "```python",
        card["load"],
        "```",
        "",
        f"Built from git commit `{card['git_commit']}`; the release folder `{card['release_dir']}` has the DVC hash "
        f"`{card['dvc_md5']}` (dvc.lock). Crops: {card['crops']['format']}, "
        f"{', '.join(str(s) for s in card['crops']['size_px']) or '-'} px square.",
        "",
    ]


def _link(what: str, path: str | None) -> list[str]:
    """A link from releases/<version>.md to a file of the release folder (there after `dvc pull`)."""
    return [f"- {what}: [{path}](../{path})"] if path else []
