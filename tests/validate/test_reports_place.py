"""Where validation reports go: next to each dataset (<dataset>/reports) by default, from any folder,
with the GX configuration that ships inside the package; never over another dataset's report."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pipeline.validate.suites import DEFAULT_GX_DIR, validate_dataset
from tests.validate.test_validate import REPO, copy_dataset


def facecorpus_in(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "facecorpus"), *argv], cwd=cwd, capture_output=True, text=True)


def test_validate_runs_from_any_folder_and_reports_next_to_the_dataset(extracted, tmp_path):
    dataset = copy_dataset(extracted[0], tmp_path / "somewhere" / "faces_a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = facecorpus_in(elsewhere, "validate", str(dataset), "--no-docs")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((dataset / "reports" / "validation.json").read_text())
    assert report["passed"] and report["dataset_from_reports"] == ".."
    assert list(elsewhere.iterdir()) == []  # nothing written where it was run from


def test_the_gx_configuration_ships_as_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    relative = (DEFAULT_GX_DIR / "great_expectations.yml").relative_to(REPO)
    package, inside = relative.parts[0], Path(*relative.parts[1:]).as_posix()
    assert any(package.startswith(p.rstrip("*")) for p in config["packages"]["find"]["include"])
    assert inside in config["package-data"][package] and (REPO / relative).is_file()


def test_another_datasets_report_is_never_overwritten(extracted, tmp_path):
    shared = tmp_path / "shared-reports"
    first = copy_dataset(extracted[0], tmp_path / "a")
    second = copy_dataset(extracted[0], tmp_path / "b")
    validate_dataset(first, reports_dir=shared, build_docs=False, only=["videos"])
    before = (shared / "validation.json").read_bytes()
    with pytest.raises(ValueError, match=r"report of another dataset \(\.\./a"):
        validate_dataset(second, reports_dir=shared, build_docs=False, only=["videos"])
    assert (shared / "validation.json").read_bytes() == before
    validate_dataset(first, reports_dir=shared, build_docs=False, only=["videos"])  # its own: rewritten
    # A project moved as a whole keeps its reports: the owner is stored relative to the reports folder.
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("a", "shared-reports"):
        (tmp_path / name).rename(moved / name)
    validate_dataset(moved / "a", reports_dir=moved / "shared-reports", build_docs=False, only=["videos"])
