"""``facecorpus validate DATASET_DIR``: check a dataset against the data contracts.

Exit status 0 when every error-level check passed (warnings are printed and do
not block), 1 when one failed, 2 for a usage error. The section of ``--params``
is ``validate``. ``python -m pipeline.cli_validate`` runs the same sub-command
on its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.contracts.limits import DEFAULT_PARTITION_ROWS, ContractLimits

PARAMS_SECTION = "validate"
EXIT_CONTRACT_FAILED = 1
EXIT_USAGE = 2
_LIMITS = ContractLimits()


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # noqa: SLF001
    fmt = argparse.ArgumentDefaultsHelpFormatter
    va = subparsers.add_parser("validate", help="check a dataset folder against the data contracts (GX suites)", formatter_class=fmt)
    va.add_argument("dataset", type=Path, nargs="?", help="dataset folder (videos.parquet, faces.parquet, crops/)")
    va.add_argument("--params", type=Path, default=None, help="YAML file whose 'validate' section sets defaults for these options (flags win)")
    va.add_argument("--reports-dir", type=Path, default=Path("data/reports"), help="folder for validation.json, the run's GX context and the Data Docs site")
    va.add_argument("--gx-dir", type=Path, default=Path("gx"), help="folder holding great_expectations.yml, the Data Docs context's configuration")
    va.add_argument("--max-failure-ratio", type=float, default=_LIMITS.max_failure_ratio, help="error: share of failed videos allowed")
    va.add_argument("--max-faces-per-frame", type=int, default=_LIMITS.max_faces_per_frame, help="warning: faces one sampled frame may hold")
    va.add_argument("--tiny-face-px", type=float, default=_LIMITS.tiny_face_px, help="a face whose box's shorter side is below this is tiny, px")
    va.add_argument("--max-tiny-face-share", type=float, default=_LIMITS.max_tiny_face_share, help="warning: share of tiny faces allowed")
    va.add_argument("--landmark-margin", type=float, default=_LIMITS.landmark_margin, help="error: landmarks lie inside the box grown by this fraction of its size")
    va.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS, help="rows per GX batch (partitions are made by the key's hash)")
    va.add_argument("--no-docs", action="store_true", default=False, help="skip building the Data Docs site")
    va.add_argument("--suites", default=None, help="comma-separated suites to run (e.g. shards, on a release folder); unset: videos, faces, crops, run")
    va.set_defaults(func=run_validate)
    return va


def run_validate(args: argparse.Namespace) -> int:
    from pipeline.validate import validate_dataset

    if args.dataset is None:
        raise ValueError("validate needs DATASET_DIR (or 'dataset' in the --params file)")
    limits = ContractLimits(
        max_failure_ratio=args.max_failure_ratio,
        max_faces_per_frame=args.max_faces_per_frame,
        tiny_face_px=args.tiny_face_px,
        max_tiny_face_share=args.max_tiny_face_share,
        landmark_margin=args.landmark_margin,
    )
    report = validate_dataset(
        args.dataset,
        limits,
        reports_dir=args.reports_dir,
        gx_dir=args.gx_dir,
        partition_rows=args.partition_rows,
        build_docs=not args.no_docs,
        only=args.suites.split(",") if args.suites else None,
    )
    print(report.summary())
    return 0 if report.passed else EXIT_CONTRACT_FAILED


def _parse(argv: list[str]) -> argparse.Namespace:
    """Stand-alone parse, the way pipeline/cli.py parses: a --params section sets defaults, flags win."""
    import yaml

    parser = argparse.ArgumentParser(prog="facecorpus", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    subparser = add_parser(parser.add_subparsers(dest="command", required=True))
    argv = ["validate", *argv]
    args = parser.parse_args(argv)
    if args.params is None:
        return args
    data = yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {}
    section = data.get(PARAMS_SECTION)
    if not isinstance(section, dict):
        raise ValueError(f"{args.params}: no '{PARAMS_SECTION}' section")
    actions = {a.dest: a for a in subparser._actions}  # noqa: SLF001
    unknown = sorted(set(section) - set(actions))
    if unknown:
        raise ValueError(f"{args.params}: unknown keys in '{PARAMS_SECTION}': {', '.join(unknown)}")
    typed = {k: actions[k].type(v) if actions[k].type is not None and v is not None else v for k, v in section.items()}
    subparser.set_defaults(**typed)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.cli_validate [DATASET_DIR] [options]``: the sub-command on its own."""
    try:
        args = _parse(sys.argv[1:] if argv is None else argv)
        return args.func(args)
    except (ValueError, OSError) as exc:
        print(f"facecorpus: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
