"""A trainer's environment: only facecorpus-load (loader/) and the distributions it requires.

Building a fresh venv and installing the loader from the registry takes minutes and the network
(dvc alone brings ~100 distributions), so the tests instead run a consumer's Python with
``-I -S`` (no site hooks: not this repo's editable install, not the working directory) and
``sys.path`` = the loader's files, as its wheel holds them, then site-packages, behind an import
guard that refuses every top-level module whose distribution is outside the closure of
loader/pyproject.toml's requirements (markers evaluated, extras not taken). A module the loader
needed from the full pipeline (prefect, great_expectations, onnxruntime, this repo's other
modules) fails to import there, as it would in the light install.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOADER = REPO / "loader"

GUARD = """
import sys
from importlib.machinery import PathFinder
ALLOWED = set({allowed!r})
class Guard:
    # Refuses a top-level module that site-packages holds unless its distribution is the loader's (stdlib passes).
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if path is not None or top in ALLOWED:
            return None
        spec = PathFinder.find_spec(top, [{site!r}])
        if spec is None:
            return None
        raise ModuleNotFoundError(f"{{top}} is not part of the facecorpus-load install", name=top)
sys.meta_path.insert(0, Guard())
sys.path[:0] = [{loader!r}, {site!r}]
"""


def loader_pyproject() -> dict:
    return tomllib.loads((LOADER / "pyproject.toml").read_text())


def loader_requirements() -> list[Requirement]:
    return [Requirement(r) for r in loader_pyproject()["project"]["dependencies"]]


def distribution_closure(requirements: list[Requirement]) -> set[str]:
    """Canonical names of ``requirements`` and everything they require here, transitively."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        todo += [Requirement(r) for r in md.requires(req.name) or []]
    return seen


def allowed_modules(distributions: set[str]) -> set[str]:
    """Top-level module names that these installed distributions provide."""
    return {module for module, dists in md.packages_distributions().items() if any(canonicalize_name(d) in distributions for d in dists)}


def install_loader(dest: Path) -> Path:
    """The loader's files as its wheel holds them (``[tool.setuptools] packages``), symlinks resolved."""
    for package in loader_pyproject()["tool"]["setuptools"]["packages"]:
        folder = Path(*package.split("."))
        (dest / folder).mkdir(parents=True)
        for module in (LOADER / folder).glob("*.py"):
            shutil.copyfile(module.resolve(), dest / folder / module.name)
    return dest


def consumer_python(tmp: Path) -> list[str]:
    """argv prefix of a Python that sees only the loader and its distributions."""
    loader = install_loader(tmp / "consumer-site")
    allowed = sorted(allowed_modules(distribution_closure(loader_requirements())) | {"pipeline", "schemas"})
    guard = GUARD.format(allowed=allowed, loader=str(loader), site=sysconfig.get_paths()["purelib"])
    (tmp / "consumer-guard.py").write_text(guard)
    return [sys.executable, "-I", "-S", "-c", f"exec(open({str(tmp / 'consumer-guard.py')!r}).read()); import runpy, sys; "]


def run_consumer(tmp: Path, code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` (a script) in the consumer's environment, in ``cwd``."""
    script = tmp / "consumer-script.py"
    script.write_text(code)
    argv = consumer_python(tmp)
    argv[-1] += f"sys.argv = [{str(script)!r}]; runpy.run_path({str(script)!r}, run_name='__main__')"
    return subprocess.run(argv, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True)
