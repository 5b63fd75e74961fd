"""What changed since the previous release, by key: parameters (``section.key: old -> new``),
stage metrics (``stage.key``), videos and faces; and the metrics a card records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RELEASES_DIR = "releases"
# Timings describe the machine, not the data: recorded in the metrics, left out of "what changed".
TIMING_SUFFIXES = ("wall_s", "per_s")


def read_metrics(metrics_dir: Path) -> dict[str, float]:
    """``{stage.key: value}`` of every numeric value in ``<metrics_dir>/<stage>.json`` (the DVC metrics)."""
    flat: dict[str, float] = {}
    for path in sorted(Path(metrics_dir).glob("*.json")) if Path(metrics_dir).is_dir() else []:
        _flatten(path.stem, json.loads(path.read_text(encoding="utf-8")), flat)
    return flat


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out[prefix] = value


def flat_parameters(parameters: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{section}.{key}": value for section, keys in parameters.items() for key, value in keys.items()}


def version_key(version: str) -> list[int]:
    return [int(x) for x in version[1:].split(".")]


def previous_card(repo: Path, version: str) -> dict | None:
    """The card of the highest released version below ``version`` (``releases/*.json``), if any."""
    cards = [p for p in (repo / RELEASES_DIR).glob("v*.json") if p.stem != version]
    older = [p for p in cards if version_key(p.stem) < version_key(version)]
    return json.loads(max(older, key=lambda p: version_key(p.stem)).read_text(encoding="utf-8")) if older else None


def changes(old: dict | None, card: dict) -> dict:
    if old is None:
        return {"previous": None}
    before, after = set(old["video_ids"]), set(card["video_ids"])
    return {
        "previous": old["version"],
        "videos_added": len(after - before),
        "videos_removed": len(before - after),
        "faces_delta": card["counts"]["faces"] - old["counts"]["faces"],
        "parameters_changed": _diff(flat_parameters(old["parameters"]), flat_parameters(card["parameters"])),
        "metrics_changed": _diff(
            {k: v for k, v in old.get("metrics", {}).items() if not k.endswith(TIMING_SUFFIXES)},
            {k: v for k, v in card.get("metrics", {}).items() if not k.endswith(TIMING_SUFFIXES)},
        ),
        "detectors_changed": old["detectors"] != card["detectors"],
    }


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{key: [old, new]}`` for every key whose value differs (a missing key reads None)."""
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def change_lines(ch: dict, version: str) -> list[str]:
    if ch["previous"] is None:
        return ["- first release"]
    return [
        f"- previous: {ch['previous']}",
        f"- videos added: {ch['videos_added']}, removed: {ch['videos_removed']}",
        f"- faces: {ch['faces_delta']:+d}",
        f"- detector changed: {ch['detectors_changed']}",
        "- parameters changed:" + ("" if ch["parameters_changed"] else " none"),
        *[f"  - `{k}`: {old!r} -> {new!r}" for k, (old, new) in ch["parameters_changed"].items()],
        f"- metrics changed (`dvc metrics diff {ch['previous']} {version}`):" + ("" if ch["metrics_changed"] else " none"),
        *[f"  - `{k}`: {old} -> {new}" for k, (old, new) in ch["metrics_changed"].items()],
    ]
