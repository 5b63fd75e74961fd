"""The policy's rules and the facecorpus.yaml sidecar that carries licence, consent and source for a folder corpus."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.corpus.load import load_corpus
from pipeline.corpus.policy import PolicyOptions
from pipeline.errors import CorpusError
from tests.conftest import fixture

STRICT = PolicyOptions(require_consent=True, allowed_consent=("given",), require_license=True, require_source=True)


def test_each_rule_names_itself():
    ok = {"consent": "given", "license": "CC0", "source": "shoot"}
    assert STRICT.violation(ok) is None
    assert "policy.require_consent" in STRICT.violation({**ok, "consent": None})
    assert "policy.require_consent" in STRICT.violation({**ok, "consent": "  "})  # blank is missing
    assert "consent 'demo-only' is not allowed" in STRICT.violation({**ok, "consent": "demo-only"})
    assert "policy.require_license" in STRICT.violation({**ok, "license": None})
    assert "policy.require_source" in STRICT.violation({**ok, "source": None})
    assert "licence 'GPL' is not allowed" in PolicyOptions(allowed_licenses=("CC0",)).violation({**ok, "license": "GPL"})
    assert PolicyOptions().violation({}) is None and not PolicyOptions().active and STRICT.active


@given(st.dictionaries(st.sampled_from(["consent", "license", "source"]), st.none() | st.text(max_size=6)))
def test_a_video_passes_exactly_when_it_carries_every_required_value(fields):
    present = {k for k, v in fields.items() if v is not None and v.strip()}
    allowed = fields.get("consent") is None or not fields["consent"].strip() or fields["consent"].strip() == "given"
    passes = {"consent", "license", "source"} <= present and allowed
    assert (STRICT.violation(fields) is None) == passes


def test_sidecars_give_folder_defaults_nearest_first_and_per_file_values(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("top.jpg", "a/mid.jpg", "a/b/deep.jpg", "a/b/other.jpg"):
        shutil.copy(fixture("two_people.jpg"), tmp_path / rel)
    (tmp_path / "facecorpus.yaml").write_text("defaults: {license: CC0, consent: given, source: studio}\n")
    (tmp_path / "a" / "b" / "facecorpus.yaml").write_text(
        "defaults: {consent: withdrawn}\nfiles:\n  other.jpg: {consent: given, subject: s9}\n"
    )
    entries = {e.uri: e.fields for e in load_corpus(tmp_path).entries}
    assert set(entries) == {"top.jpg", "a/mid.jpg", "a/b/deep.jpg", "a/b/other.jpg"}  # sidecars are not inputs
    assert entries["a/mid.jpg"]["consent"] == "given" and entries["a/mid.jpg"]["license"] == "CC0"
    assert entries["a/b/deep.jpg"]["consent"] == "withdrawn" and entries["a/b/deep.jpg"]["source"] == "studio"
    assert entries["a/b/other.jpg"]["consent"] == "given" and entries["a/b/other.jpg"]["subject"] == "s9"


@pytest.mark.parametrize(
    ("text", "message"),
    [("defaults: {licence: CC0}\n", "unknown key 'licence'"), ("[1, 2]\n", "expected `defaults:"), ("defaults: {a: [\n", "not a readable")],
)
def test_a_bad_sidecar_is_an_error_naming_the_file(tmp_path, text, message):
    shutil.copy(fixture("two_people.jpg"), tmp_path / "x.jpg")
    (tmp_path / "facecorpus.yaml").write_text(text)
    with pytest.raises(CorpusError, match=message) as info:
        load_corpus(tmp_path)
    assert "facecorpus.yaml" in str(info.value)
