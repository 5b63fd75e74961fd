"""The facecorpus command line, run as a user runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

from tests.conftest import fixture

REPO = Path(__file__).resolve().parents[2]


def facecorpus(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("facecorpus")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=REPO)


def test_help_shows_every_default():
    result = facecorpus("extract", "--help")
    assert result.returncode == 0
    options = re.findall(r"^\s+(--[a-z-]+)", result.stdout, flags=re.M)
    text = " ".join(result.stdout.split())
    assert {"--sample", "--detector", "--preset", "--det-max-side", "--score-threshold"} <= set(options)
    for option in options:
        if option in ("--help", "--no-progress", "--out"):
            continue
        section = text.split(option, 2)[-1].removeprefix(f", --no-{option[2:]}").split(" --", 1)[0]
        assert "(default:" in section, f"{option} shows no default"
    assert "(default: fps:1)" in text and "(default: centerface)" in text and "(default: arcface)" in text


def test_extract_prints_a_summary_and_records_failures(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    (corpus / "broken.mp4").write_bytes(b"\x00" * 1000)
    result = facecorpus(
        "extract", str(corpus), "--out", str(tmp_path / "out"), "--no-progress", "--preset", "ffhq", "--size", "256", "--crop-format", "jpg"
    )
    assert result.returncode == 1, result.stderr  # 1 of 2 failed: more than validate.max_failure_ratio
    assert "inputs: 2: 1 ok (0 videos, 1 stills), 1 failed (0 already done)" in result.stdout
    assert "faces: 2" in result.stdout and "frames/s:" in result.stdout and "wall time:" in result.stdout
    assert f"manifests: {tmp_path / 'out' / 'videos.parquet'}" in result.stdout
    assert "failed: broken.mp4: " in result.stdout
    faces = pl.read_parquet(tmp_path / "out" / "faces.parquet")
    assert faces["crop_path"].str.ends_with(".jpg").all() and faces["preset"].unique().to_list() == ["ffhq:256:margin=0"]


def test_bad_arguments_give_a_clear_error(tmp_path):
    result = facecorpus("extract", str(tmp_path), "--out", str(tmp_path / "o"), "--sample", "fps:zero")
    assert result.returncode == 2 and "bad sampling spec 'fps:zero'" in result.stderr
    result = facecorpus("extract", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_params_file_sets_defaults_and_flags_win(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    params = tmp_path / "params.yaml"
    params.write_text(f"extract:\n  corpus: {corpus}\n  out: {tmp_path / 'out'}\n  preset: ffhq\n  size: 256\n")
    result = facecorpus("extract", "--params", str(params), "--no-progress", "--size", "512")
    assert result.returncode == 0, result.stderr
    assert pl.read_parquet(tmp_path / "out" / "faces.parquet")["preset"].unique().to_list() == ["ffhq:512:margin=0"]
    params.write_text("extract:\n  colour: red\n")
    result = facecorpus("extract", "--params", str(params))
    assert result.returncode == 2 and "extract: unknown key 'colour'" in result.stderr


def test_help_marks_required_arguments_and_stage_commands_list_only_their_options():
    text = " ".join(facecorpus("extract", "--help").stdout.split())
    assert "CORPUS corpus folder" in text and "(required: give it here or in the params file) [params: extract.corpus]" in text
    assert "--out OUT dataset folder (manifests, crops, work) (required: give it here or in the params file) [params: extract.out]" in text
    detect = facecorpus("detect", "--help").stdout
    assert "--det-max-side" in detect and "--preset" not in detect and "--crop-format" not in detect
    align = facecorpus("align", "--help").stdout
    assert "--preset" in align and "--plots-dir" not in align and "--min-sharpness" not in align
    curate = facecorpus("curate", "--help").stdout
    assert "--plots-dir" in curate and "--min-sharpness" in curate and "--per-track" not in curate
    select = facecorpus("select", "--help").stdout
    assert "--per-track" in select and "--min-quality" in select and "--min-sharpness" not in select
    pack = facecorpus("pack", "--help").stdout
    assert "--shard-mb" in pack and "--sample" not in pack
    assert all(facecorpus(command, "--help").returncode == 0 for command in ("snapshot", "validate", "release", "export-loose", "ingest"))


def test_a_missing_required_key_names_the_flag_and_the_params_key(tmp_path):
    result = facecorpus("extract", str(tmp_path))
    assert result.returncode == 2 and "extract needs --out (or extract.out in the --params file)" in result.stderr
    params = tmp_path / "params.yaml"
    params.write_text("extract:\n  sample: fps:2\n")
    result = facecorpus("extract", "--params", str(params), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "extract needs CORPUS (or extract.corpus in the --params file)" in result.stderr


def test_every_command_has_a_one_line_help_and_no_default_reads_none():
    from flows.cli import COMMANDS
    from pipeline.cli.main import build_parser

    sub = next(a for a in build_parser(COMMANDS)._actions if a.dest == "command")
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert set(helps) == set(sub.choices) and len(helps) >= 15
    for command, parser in sub.choices.items():
        assert helps[command] and "\n" not in helps[command] and parser.description, command
        text = " ".join(parser.format_help().split())
        assert "default: None" not in text, command
    assert "(required: give it here or in the params file)" in " ".join(sub.choices["extract"].format_help().split())


def test_third_party_info_logs_stay_quiet_unless_debug(tmp_path):
    dataset = tmp_path / "ds"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixture("two_people.jpg"), corpus / "two.jpg")
    assert facecorpus("extract", str(corpus), "--out", str(dataset), "--no-progress").returncode == 0
    info = facecorpus("--log-level", "INFO", "validate", str(dataset), "--no-docs")
    assert info.returncode == 0 and "great_expectations" not in info.stderr and len(info.stderr.splitlines()) < 20, info.stderr
    debug = facecorpus("--log-level", "DEBUG", "validate", str(dataset), "--no-docs")
    assert debug.returncode == 0 and "great_expectations" in debug.stderr  # the same run, not quieted


STILL_IMPORTS_CHECK = """
import sys
from flows.cli import main
assert main(["extract", "corpus", "--out", "out", "--no-progress"]) == 0
heavy = sorted({"pandas", "onnx", "av"} & set(sys.modules))
assert not heavy, f"extract on one still imported {heavy}"
"""


def test_extract_on_a_still_imports_no_pandas_onnx_or_pyav(tmp_path):
    """The fixed cost of a run (bench/fixed_cost.py): pandas (0.3 s, pyarrow's first conversion), onnx
    (0.8 s, the CenterFace graph edit; the first run warms the model cache) and PyAV (0.08 s; the probe
    runs in a child process) stay out of the command's process on a still."""
    (tmp_path / "corpus").mkdir()
    shutil.copy(fixture("two_people.jpg"), tmp_path / "corpus" / "two.jpg")
    facecorpus("extract", str(tmp_path / "corpus"), "--out", str(tmp_path / "first"), "--no-progress").check_returncode()
    subprocess.run([sys.executable, "-c", STILL_IMPORTS_CHECK], cwd=tmp_path, check=True)
