"""gc: orphans of a removed video are listed and removed; the work of a run in progress is never touched."""

from __future__ import annotations

import shutil

import polars as pl
import yaml

from pipeline.cli.main import main
from tests.conftest import fixture


def facecorpus(*argv: str) -> int:
    return main([*argv, "--params", "params.yaml"])


def test_gc_removes_a_removed_videos_work_and_keeps_a_run_in_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    corpus, ds = tmp_path / "corpus", tmp_path / "ds"
    corpus.mkdir()
    for name in ("two_people.jpg", "obama_portrait.jpg"):
        shutil.copy(fixture(name), corpus / name)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"extract": {"corpus": "corpus", "out": "ds"}}))
    assert facecorpus("extract", "--no-progress") == 0
    first = pl.read_parquet(ds / "faces.parquet")
    removed = first.filter(pl.col("uri") == "obama_portrait.jpg")
    removed_id = removed["video_id"][0]
    (corpus / "obama_portrait.jpg").unlink()  # removed from the corpus
    assert facecorpus("extract", "--no-progress") == 0
    shutil.copy(fixture("lin_manuel_miranda.png"), corpus / "lin.png")  # a run in progress: detected, not yet aligned or merged
    assert facecorpus("detect", "corpus", "--out", "ds", "--metrics-dir", "metrics") == 0
    in_progress = [p for p in (ds / "work").glob("*/detect-*") if p.parent.name not in set(first["video_id"])]
    assert len(in_progress) == 1
    capsys.readouterr()
    assert facecorpus("gc", "--dry-run") == 0
    listed = {line.removeprefix("would remove ") for line in capsys.readouterr().out.splitlines() if line.startswith("would remove")}
    expected = {str(p.relative_to(tmp_path)) for p in [*(ds / "work" / removed_id).iterdir(), *(ds / "curation" / removed_id).iterdir()]}
    expected |= {f"ds/{path}" for path in removed["crop_path"]}
    assert listed == expected
    assert facecorpus("gc") == 0
    assert not (ds / "work" / removed_id).exists() and not (ds / "curation" / removed_id).exists()
    assert all(p.is_dir() for p in in_progress) and all((ds / p).is_file() for p in pl.read_parquet(ds / "faces.parquet")["crop_path"])
    assert facecorpus("validate", "ds", "--no-docs") == 0
