"""The light install for trainers (loader/, facecorpus-load): the loader imports and reads a release
with only its own distributions, and its pins agree with the pipeline's."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.consumer import REPO, distribution_closure, loader_pyproject, loader_requirements, run_consumer

CHECK = """
import sys, pipeline.dataset as d
from pipeline.dataset import load
import dvc.api  # load(repo, rev=...) fetches through it
assert d.__file__.startswith({site!r}), d.__file__
for heavy in ("prefect", "great_expectations", "onnxruntime", "pipeline.config", "flows"):
    try:
        __import__(heavy)
    except ModuleNotFoundError as exc:
        print("refused", heavy, "-", exc)
    else:
        raise SystemExit(heavy + " imported: the guard lets the full install through")
print("loaded", len(sys.modules), "modules")
"""


def test_loader_imports_with_only_its_distributions(tmp_path):
    result = run_consumer(tmp_path, CHECK.format(site=str(tmp_path / "consumer-site")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("refused") == 5 and "loaded" in result.stdout


def test_the_guard_refuses_what_the_loader_does_not_declare(tmp_path):
    result = run_consumer(tmp_path, "import great_expectations\n", cwd=tmp_path)
    assert result.returncode != 0 and "great_expectations is not part of the facecorpus-load install" in result.stderr


def test_loader_closure_is_a_small_part_of_the_pipeline_install():
    loader = distribution_closure(loader_requirements())
    full = distribution_closure([Requirement("facecorpus")])
    assert {"prefect", "great-expectations", "onnxruntime", "matplotlib", "scikit-image"}.isdisjoint(loader)
    assert loader < full and len(loader) < 0.75 * len(full)


def test_loader_pins_are_the_pipeline_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    main = {canonicalize_name(Requirement(r).name): Requirement(r) for r in project["dependencies"]}
    for req in loader_requirements():
        assert str(main[canonicalize_name(req.name)].specifier) == str(req.specifier), req.name
    assert loader_pyproject()["project"]["requires-python"] == project["requires-python"]
