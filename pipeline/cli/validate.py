"""``facecorpus validate DATASET``: check a dataset against the data contracts.

Exit status 0 when every error-level check passed (warnings are printed and do
not block), 1 when one failed, 2 for a usage error. Its keys are params.yaml's
``validate`` section.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.options import FORMATTER, Flag, add_params_flags, options_from, section_flags

EXIT_CONTRACT_FAILED = 1


def register(sub: argparse._SubParsersAction) -> None:
    va = sub.add_parser(
        "validate",
        help="check a dataset folder against the data contracts (GX suites)",
        description="Run the Great Expectations suites over DATASET; write validation.json (and Data Docs) to the reports folder.",
        formatter_class=FORMATTER,
    )
    add_params_flags(va, [Flag("validate", "dataset", positional=True), *section_flags("validate", exclude=("dataset",))])
    va.add_argument(
        "--suites",
        default=None,
        help="comma-separated suites to run (e.g. shards, on a release folder) (default: videos, faces, crops, tracks, run)",
    )
    va.add_argument(
        "--gx-dir", type=Path, default=None, help="folder holding great_expectations.yml (default: the one shipped with facecorpus)"
    )
    va.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from pipeline.validate.suites import DEFAULT_GX_DIR, validate_dataset

    options = options_from(args).validate
    dataset = Path(options.dataset).expanduser()
    report = validate_dataset(
        dataset,
        options.limits(),
        reports_dir=options.reports_path(dataset),
        gx_dir=args.gx_dir or DEFAULT_GX_DIR,
        partition_rows=options.partition_rows,
        build_docs=options.docs,
        only=args.suites.split(",") if args.suites else None,
    )
    print(report.summary())
    if not args.suites:  # a dataset (a release folder's shards suite has no faces to join examples to)
        print(_validation_page(dataset, report.report_json.parent))
    return 0 if report.passed else EXIT_CONTRACT_FAILED


def _validation_page(dataset: Path, reports_dir: Path) -> str:
    """The plain-words page (``pipeline/report``): the Data Docs index draws its table with scripts
    from a CDN (blank offline); this page does not. Not writing it never changes the exit status."""
    import polars as pl

    from pipeline.report.build import write_validation_page

    try:
        return f"validation, in plain words with example rows and paths: {write_validation_page(dataset, reports_dir)}"
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        return f"validation page not written: {exc}"
