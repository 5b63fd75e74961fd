"""docs/data-versions.md's walkthrough, run as written: its ```sh walk``` and ```python walk```
blocks, read from the doc (so the doc and this test cannot drift), in a fresh copy of the repository
with an empty home (no git identity, the default remote ~/facecorpus-dvc-remote inside it), nothing
activated (the venv's bin is not on PATH), DVC telemetry off. The Python blocks run as a trainer's
environment would: only the loader and its distributions (tests/consumer.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.consumer import run_consumer
from tests.dvcproject import GIT_ENV

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "data-versions.md"
BLOCK_RE = re.compile(r"^```(sh|python) walk\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Block:
    language: str
    code: str


def walk_blocks() -> list[Block]:
    return [Block(lang, code) for lang, code in BLOCK_RE.findall(DOC.read_text(encoding="utf-8"))]


def fresh_clone(root: Path) -> Path:
    """The repository's files (tracked and new, as in this working tree) committed into a new git repo,
    as `git clone` would give them; .venv links to this one (what `make` would have created)."""
    listed = (
        subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = REPO / name
        if src.is_symlink() or src.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name, follow_symlinks=False)
    (root / ".venv").symlink_to(Path(sys.prefix))
    env = {**os.environ, **GIT_ENV}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "clone"]):
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
    return root


def newcomer_env(home: Path) -> dict[str, str]:
    """No git identity (config only: never guessed from the host name), no venv on PATH, an empty home."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "VIRTUAL_ENV", "DVC_"))}
    (home / ".gitconfig").write_text("[user]\n\tuseConfigOnly = true\n")
    return {
        **env,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "DVC_NO_ANALYTICS": "1",
        "PATH": os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin),
    }


@dataclass(frozen=True)
class Walk:
    project: Path
    home: Path
    outputs: list[str]


@pytest.fixture(scope="module")
def walked(tmp_path_factory) -> Walk:
    if shutil.which("make") is None:
        if os.environ.get("CI"):
            pytest.fail("make is missing (the walkthrough runs `make repro`)")
        pytest.skip("make is not installed: the walkthrough runs `make repro`")
    tmp = tmp_path_factory.mktemp("walk")
    home = tmp / "home"
    home.mkdir()
    project = fresh_clone(tmp / "facecorpus")
    env = newcomer_env(home)
    blocks = walk_blocks()
    outputs = []
    for block in blocks:
        if block.language == "sh":
            if "make release" in block.code and not outputs_released(project):
                refused_without_identity(project, env)
            result = subprocess.run(["bash", "-e", "-x", "-c", block.code], cwd=project, env=env, capture_output=True, text=True)
        else:
            result = run_consumer(tmp, block.code, cwd=project, env=env)
        assert result.returncode == 0, f"docs block failed:\n{block.code}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
    return Walk(project, home, outputs)


def outputs_released(project: Path) -> bool:
    return (project / "releases").is_dir()


def refused_without_identity(project: Path, env: dict[str, str]) -> None:
    """Before the doc sets an identity: the release refuses with nothing written, committed, tagged or pushed."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, env=env, capture_output=True, text=True).stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, env=env, capture_output=True, text=True).stdout
    result = subprocess.run(["make", "release", "V=v1.0"], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "git has no identity" in result.stdout, result.stdout + result.stderr
    assert "nothing was written, committed, tagged or pushed" in result.stdout
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, env=env, capture_output=True, text=True).stdout == head
    assert subprocess.run(["git", "status", "--porcelain"], cwd=project, env=env, capture_output=True, text=True).stdout == status
    assert not (project / "releases").exists() and not (Path(env["HOME"]) / "facecorpus-dvc-remote").exists()


def test_the_doc_has_the_walk():
    blocks = walk_blocks()
    code = "\n".join(b.code for b in blocks)
    assert [b.language for b in blocks][-1] == "python"
    for step in ("make repro", "make release V=v1.0", "make release V=v1.1", "dvc metrics diff v1.0 v1.1", "rev=version"):
        assert step in code, step


def git(project: Path, *argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=project, capture_output=True, text=True, check=True).stdout


def test_two_releases_tagged_pushed_and_clean(walked):
    project, home = walked.project, walked.home
    assert sorted(git(project, "tag", "--list").split()) == ["release@v1.0.0", "release@v1.1.0", "v1.0", "v1.1"]
    assert git(project, "status", "--porcelain") == ""
    assert any((home / "facecorpus-dvc-remote").rglob("*")), "nothing pushed to the default remote"
    # The metrics travel with each release commit.
    assert "data/metrics/curate.json" in git(project, "ls-tree", "-r", "--name-only", "v1.0")


def test_the_card_says_what_changed_by_key(walked):
    v10 = json.loads((walked.project / "releases" / "v1.0.json").read_text())
    v11 = json.loads((walked.project / "releases" / "v1.1.json").read_text())
    assert v10["changes"] == {"previous": None}
    changed, markdown = v11["changes"], (walked.project / "releases" / "v1.1.md").read_text()
    walk_code = "\n".join(b.code for b in walk_blocks())
    # The parameters the doc changes (the walk's own edit), each by key with its old and new value.
    assert changed["previous"] == "v1.0" and changed["parameters_changed"]
    for key, (old, new) in changed["parameters_changed"].items():
        assert key.split(".")[-1] in walk_code and f"`{key}`: {old!r} -> {new!r}" in markdown
        assert flat(v10["parameters"])[key] == old and flat(v11["parameters"])[key] == new
    # The metrics that changed with it, by key, as the stages wrote them.
    assert changed["metrics_changed"]
    for key, (old, new) in changed["metrics_changed"].items():
        assert v10["metrics"].get(key) == old and v11["metrics"].get(key) == new and f"`{key}`: {old} -> {new}" in markdown
    kept = [v10["curation"]["kept"], v11["curation"]["kept"]]
    assert changed["metrics_changed"].get("curate.kept", kept) == kept
    for field in ("intended_use", "limitations", "git_commit", "dvc_md5", "load", "crops", "by_field"):
        assert v11[field], field
    assert v11["git_commit"] == git(walked.project, "rev-parse", "v1.1^").strip()
    assert v11["dvc_md5"].endswith(".dir") and v11["crops"] == {"format": "png", "size_px": [112]}
    assert sum(v["kept"] for v in v11["by_field"]["split"].values()) == v11["curation"]["kept"]
    # The card links what a trainer gets with the release (the report inside it), not an ignored folder.
    assert v11["validation_page"] == "data/release/report/validation.html"
    assert "(../data/release/report/validation.html)" in markdown and "](../data/reports" not in markdown


def flat(parameters: dict) -> dict:
    return {f"{section}.{key}": value for section, keys in parameters.items() for key, value in keys.items()}


def test_metrics_diff_between_releases(walked):
    blocks = walk_blocks()
    diff = next(out for block, out in zip(blocks, walked.outputs) if "dvc metrics diff" in block.code)
    assert "data/metrics/curate.json" in diff and "kept" in diff


def test_both_versions_load_in_a_consumer_environment(walked):
    printed = walked.outputs[-1].splitlines()  # the last block: the trainer's, in the consumer environment
    for version in ("v1.0", "v1.1"):
        card = json.loads((walked.project / "releases" / f"{version}.json").read_text())
        line = next(line for line in printed if line.startswith(f"{version} "))
        assert line.startswith(f"{version} {card['curation']['kept']} ") and "(112, 112, 3)" in line
