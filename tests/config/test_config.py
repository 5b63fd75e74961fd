"""Options: defined once, parsed once (params.yaml, flags), JSON round trip, unknown keys refused."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import SECTIONS, ExtractOptions, IngestOptions, Options, ValidateOptions, field_types, load_params, optional_fields
from schemas.contracts.limits import ContractLimits

REPO = Path(__file__).resolve().parents[2]


def test_the_repository_params_file_parses():
    options = load_params(REPO / "params.yaml")
    assert options.extract.sample == "fps:1" and options.extract.out == "data/dataset"
    assert options.pack.out == "data/release" and options.validate.reports_dir is None
    options.extract.check()
    options.ingest.check()


def test_every_section_of_params_yaml_is_a_section_here():
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(data) <= set(SECTIONS)
    for section, values in data.items():
        assert set(values) <= {f.name for f in fields(SECTIONS[section])}, section


def test_unknown_sections_and_keys_are_errors_naming_them(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("extract:\n  colour: red\n")
    with pytest.raises(ValueError, match=r"extract: unknown key 'colour'"):
        load_params(params)
    params.write_text("extrakt:\n  sample: fps:1\n")
    with pytest.raises(ValueError, match=r"unknown section 'extrakt'"):
        load_params(params)


def test_values_of_the_wrong_type_are_errors_naming_the_key():
    with pytest.raises(ValueError, match=r"ingest.shard_videos: expected int, got 'many'"):
        Options.from_json({"ingest": {"shard_videos": "many"}})
    with pytest.raises(ValueError, match=r"extract.score_threshold: expected float, got \[1\]"):
        Options.from_json({"extract": {"score_threshold": [1]}})
    assert Options.from_json({"extract": {"margin": 1, "size": "224"}}).extract.margin == 1.0


def test_validate_is_the_contract_limits_plus_paths():
    limits = ContractLimits()
    assert ValidateOptions().limits() == limits
    assert {f.name for f in fields(ContractLimits)} < {f.name for f in fields(ValidateOptions)}
    assert ValidateOptions(reports_dir=None).reports_path(Path("/d")) == Path("/d/reports")


def test_merged_replaces_only_the_given_keys():
    base = Options()
    merged = base.merged({"extract": {"preset": "ffhq"}, "ingest": {}})
    assert merged.extract.preset == "ffhq" and merged.extract.sample == base.extract.sample and merged.ingest == base.ingest


def test_the_stage_configs_are_built_from_the_options():
    extract = ExtractOptions(preset="ffhq", size=256, crop_format="jpg", crop_quality=80, score_threshold=0.6)
    assert extract.align_config().text == "ffhq:256:margin=0"
    assert extract.crop_format_config().output_params() == {"format": "jpg", "quality": 80}
    assert extract.detector_config(threads=3).score_threshold == 0.6
    with pytest.raises(ValueError, match="bad sampling spec"):
        ExtractOptions(sample="fps:zero").check()
    with pytest.raises(ValueError, match="unknown detector"):
        ExtractOptions(detector="yolo").check()
    with pytest.raises(ValueError, match="bad ingest options"):
        IngestOptions(shard_videos=0).check()


def _value(kind: type):
    return {
        int: st.integers(-(10**6), 10**6),
        float: st.floats(allow_nan=False, allow_infinity=False),
        str: st.text(max_size=8),
        bool: st.booleans(),
        tuple: st.lists(st.text(max_size=8), max_size=3),  # a list of text (policy.allowed_consent)
    }[kind]


# The contract limits are range-checked when built: drawn from their valid ranges.
_LIMITS = {
    "max_failure_ratio": st.floats(0, 1),
    "max_tiny_face_share": st.floats(0, 1),
    "max_faces_per_frame": st.integers(0, 1000),
    "tiny_face_px": st.floats(0, 1e4),
    "landmark_margin": st.floats(0, 10),
}


def _section_strategy(kind: type):
    types, optional = field_types(kind), optional_fields(kind)
    values = {}
    for f in fields(kind):
        value = _LIMITS.get(f.name) if kind is ValidateOptions and f.name in _LIMITS else _value(types[f.name])
        values[f.name] = st.none() | value if f.name in optional else value
    return st.fixed_dictionaries({}, optional=values)


ANY_OPTIONS = st.fixed_dictionaries({}, optional={name: _section_strategy(kind) for name, kind in SECTIONS.items()})


# Drawing every section's keys takes long on a loaded 2-core machine: not a property of the code.
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(ANY_OPTIONS)
def test_options_round_trip_through_json(data):
    options = Options.from_json(data)
    text = json.dumps(options.to_json())
    assert Options.from_json(json.loads(text)) == options


def test_a_key_that_cannot_be_unset_refuses_nothing():
    with pytest.raises(ValueError, match=r"ingest.workers: expected int, got nothing"):
        Options.from_json({"ingest": {"workers": None}})


def test_a_list_option_takes_a_yaml_list_or_comma_separated_text():
    policy = Options.from_json({"policy": {"allowed_consent": ["given", " demo-only "]}}).policy
    assert policy.allowed_consent == ("given", "demo-only")
    assert Options.from_json({"policy": {"allowed_licenses": "CC-BY-4.0, CC0"}}).policy.allowed_licenses == ("CC-BY-4.0", "CC0")
    assert Options().merged({"policy": {"allowed_consent": ("given",)}}).to_json()["policy"]["allowed_consent"] == ["given"]
    with pytest.raises(ValueError, match=r"policy.allowed_consent: expected tuple, got \[1\]"):
        Options.from_json({"policy": {"allowed_consent": [1]}})
