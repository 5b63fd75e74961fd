"""The run's GX file context and its Data Docs site.

The package ships the context's configuration: ``schemas/gx/great_expectations.yml`` (package data).
Each validation copies it into ``<reports_dir>/gx-context/`` and opens the copy,
so suites, results and the Data Docs site (``<reports_dir>/datadocs/``, as the
config's ``data_docs_sites`` says) belong to the dataset version they describe,
and nothing is written into the repository. Both folders are replaced on each
run; a marker file guards against replacing a folder this code did not make.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import great_expectations as gx
from great_expectations.data_context import FileDataContext

from pipeline.validate.gx import SuiteRun, file_context, store_and_build_docs

CONFIG_NAME = "great_expectations.yml"
CONTEXT_DIR = "gx-context"
DOCS_DIR = "datadocs"
SITE_NAME = "local_site"
_MARKER = ".facecorpus-generated"


def open_run_context(gx_dir: Path, reports_dir: Path) -> FileDataContext:
    """A fresh file context in ``reports_dir`` made from ``gx_dir``'s configuration."""
    config = Path(gx_dir) / CONFIG_NAME
    if not config.is_file():
        raise ValueError(f"{gx_dir}: no {CONFIG_NAME} (the Great Expectations config folder; facecorpus ships schemas/gx)")
    reports_dir = Path(reports_dir)
    for name in (CONTEXT_DIR, DOCS_DIR):
        _remove_generated(reports_dir / name)
        (reports_dir / name).mkdir(parents=True)
        (reports_dir / name / _MARKER).touch()
    root = reports_dir / CONTEXT_DIR
    shutil.copyfile(config, root / CONFIG_NAME)
    return file_context(root)


def remove_data_docs(reports_dir: Path) -> None:
    """Remove a previous run's context and site, so no stale site sits beside a new report."""
    for name in (CONTEXT_DIR, DOCS_DIR):
        _remove_generated(Path(reports_dir) / name)


def _remove_generated(folder: Path) -> None:
    if not folder.exists():
        return
    if not (folder / _MARKER).is_file():
        raise ValueError(f"{folder} exists and was not made by facecorpus validate; refusing to replace it")
    shutil.rmtree(folder)


def build_data_docs(gx_dir: Path, reports_dir: Path, runs: Sequence[SuiteRun], suites: Sequence[gx.ExpectationSuite]) -> Path:
    """Store each suite and its merged result in a fresh run context, build the site, return index.html."""
    return finish_data_docs(open_run_context(gx_dir, reports_dir), runs, suites)


def finish_data_docs(context: FileDataContext, runs: Sequence[SuiteRun], suites: Sequence[gx.ExpectationSuite]) -> Path:
    """The site of runs validated in ``context`` (``open_run_context``) with ``docs_site=SITE_NAME``:
    one-batch suites are already in it (their Checkpoint's UpdateDataDocsAction); partitioned
    suites' merged results are stored and the site rebuilt. Returns index.html."""
    return store_and_build_docs(context, SITE_NAME, runs, suites)


def validation_pages(index_html: Path) -> dict[str, Path]:
    """Each suite's validation result page in a built site."""
    pages = {}
    for page in sorted((index_html.parent / "validations").rglob("*.html")):
        pages[page.relative_to(index_html.parent / "validations").parts[0]] = page
    return pages
