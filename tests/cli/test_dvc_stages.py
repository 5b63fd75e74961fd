"""dvc.yaml runs the same CLI on params.yaml: a real git repo, a real DVC project, real runs."""

from __future__ import annotations

import json
import shutil

import polars as pl

from tests.dvcproject import make_project, sh, update_params

STAGES = ("models", "sample_corpus", "snapshot", "detect", "align", "curate", "select", "validate", "pack")


def ran(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


def test_dvc_repro_runs_the_stages_and_reruns_only_what_a_parameter_touches(tmp_path):
    project = make_project(tmp_path / "project", tmp_path / "remote")

    first = sh(project, "dvc", "repro").stdout
    assert ran(first) == set(STAGES)
    faces = pl.read_parquet(project / "data" / "dataset" / "faces.parquet")
    assert faces.height > 20 and faces["preset"].unique().to_list() == ["arcface:112:margin=0"]
    metrics = json.loads((project / "data" / "metrics" / "detect.json").read_text())
    assert metrics["videos"] == 5 and metrics["failed"] == 0 and metrics["frames"] == 10
    assert {p.name for p in (project / "data" / "plots").iterdir()} == {
        "face_size_px.csv",
        "det_score.csv",
        "yaw_deg.csv",
        "sharpness.csv",
        "quality_score.csv",
    }
    curate = json.loads((project / "data" / "metrics" / "curate.json").read_text())
    assert curate["faces"] == faces.height and curate["kept"] + curate["filtered"] + curate["duplicate"] == faces.height
    assert (project / "data" / "selection" / "selection.parquet").is_file()
    assert "up to date" in sh(project, "dvc", "repro").stdout
    assert json.loads(sh(project, "dvc", "status", "--json").stdout) == {}
    # What else lives in the dataset folder (a report built beside it, the run lock) is no input of
    # pack: it stays up to date (issue 20: pack lists the dataset's parts, not its folder).
    (project / "data" / "dataset" / "report").mkdir(exist_ok=True)
    (project / "data" / "dataset" / "report" / "index.html").write_text("a report rebuilt beside the dataset")
    (project / "data" / "dataset" / ".lock").write_text("")
    assert json.loads(sh(project, "dvc", "status", "--json").stdout) == {}
    shutil.rmtree(project / "data" / "dataset" / "report")

    # A new detector model (the file the models stage put in the project) makes detect dirty (issue 20).
    model = project / "models" / "centerface.onnx"
    original = model.read_bytes()
    model.write_bytes(original + b"\0")
    status = json.loads(sh(project, "dvc", "status", "--json").stdout)
    assert {"models", "detect"} <= set(status), status
    assert {"changed deps": {"models/centerface.onnx": "modified"}} in status["detect"], status["detect"]
    model.write_bytes(original)
    assert json.loads(sh(project, "dvc", "status", "--json").stdout) == {}

    # A filter threshold: curation reruns from the stored scores; detect and align do not.
    update_params(project, {"curate": {"min_sharpness": 1e6}})
    refilter = sh(project, "dvc", "repro").stdout
    assert ran(refilter) == {"curate", "select", "validate", "pack"}, refilter
    refiltered = pl.read_parquet(project / "data" / "dataset" / "faces.parquet")
    assert refiltered["face_id"].to_list() == faces["face_id"].to_list()
    assert set(refiltered["status"]) == {"filtered"} and all("blurry" in r for r in refiltered["filter_reasons"].to_list())
    update_params(project, {"curate": {"min_sharpness": 80.0}})

    update_params(project, {"extract": {"preset": "ffhq", "size": 256}})
    second = sh(project, "dvc", "repro").stdout
    assert ran(second) == {"align", "curate", "select", "validate", "pack"}, second
    assert "Stage 'detect' didn't change" in second
    detect_metrics = json.loads((project / "data" / "metrics" / "detect.json").read_text())
    assert detect_metrics == metrics  # the detect stage did not run again
    align_metrics = json.loads((project / "data" / "metrics" / "align.json").read_text())
    assert align_metrics["detector_ran_on"] == 0 and align_metrics["videos_aligned"] == 5
    faces = pl.read_parquet(project / "data" / "release" / "faces.parquet")
    assert faces["preset"].unique().to_list() == ["ffhq:256:margin=0"]
