"""The ``facecorpus`` console script: the library commands plus the Prefect ones.

``ingest`` runs the ingest flow once now; ``serve`` serves it as a deployment on a
cron schedule; ``retry-failed`` reruns the videos that failed transiently. All
three work against ``PREFECT_API_URL`` when it is set, and otherwise against
Prefect's temporary local server (which binds 127.0.0.1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline import cli as base
from pipeline.options import EXTRACT_DEFAULTS, INGEST_DEFAULTS

DEPLOYMENT_NAME = "facecorpus-ingest"


def _add_ingest_options(parser: argparse.ArgumentParser) -> None:
    base.add_corpus_options(parser)
    base.add_params_option(parser, ["extract", "ingest"])
    base.add_extract_options(parser)
    d = INGEST_DEFAULTS
    parser.add_argument("--shard-videos", type=int, default=d["shard_videos"], help="at most this many videos per shard (one Prefect task each)")
    parser.add_argument("--shard-mb", type=float, default=d["shard_mb"], help="at most this many MB of video per shard")
    parser.add_argument("--workers", type=int, default=d["workers"], help="videos processed at once inside a shard; 0: one per core")
    parser.add_argument("--timeout-s", type=float, default=d["timeout_s"], help="per-video timeout: a hung decoder is killed and the video recorded as failed")
    parser.add_argument("--retries", type=int, default=d["retries"], help="retries, with exponential backoff, of a video that failed transiently")
    parser.add_argument("--backoff-s", type=float, default=d["backoff_s"], help="first retry delay; doubles each retry")
    parser.add_argument("--max-failure-ratio", type=float, default=None,
                        help=f"the run fails when a larger share of videos failed; unset: validate.max_failure_ratio of --params, else {d['max_failure_ratio']}")
    parser.add_argument("--runner", choices=["local", "dask"], default="local", help="task runner: local threads, or Dask")
    parser.add_argument("--dask-address", default=None, help="tcp://host:port of an existing Dask scheduler; unset with --runner dask: a LocalCluster")
    parser.add_argument("--dask-workers", type=int, default=None, help="LocalCluster worker processes; unset: half the cores")
    parser.add_argument("--reports-dir", type=Path, default=None, help="validation report and Data Docs; unset: 'reports' beside --out")


def _register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    ing = sub.add_parser("ingest", help="run the ingest flow once now on what is new in CORPUS", formatter_class=base.FORMATTER)
    _add_ingest_options(ing)
    ing.set_defaults(func=_cmd_ingest)
    srv = sub.add_parser("serve", help="serve the ingest flow as a deployment on a cron schedule", formatter_class=base.FORMATTER)
    _add_ingest_options(srv)
    srv.add_argument("--cron", required=True, help='cron schedule, e.g. "0 * * * *" (hourly)')
    srv.add_argument("--name", default=DEPLOYMENT_NAME, help="deployment name")
    srv.set_defaults(func=_cmd_serve)
    retry = sub.add_parser("retry-failed", help="rerun only the videos that failed with a transient error or a timeout", formatter_class=base.FORMATTER)
    _add_ingest_options(retry)
    retry.set_defaults(func=_cmd_retry_failed)


def _options(args: argparse.Namespace) -> dict:
    keys = set(EXTRACT_DEFAULTS) | set(INGEST_DEFAULTS)
    options = {k: v for k, v in vars(args).items() if k in keys and v is not None}
    if args.detect_root is not None:
        options["detect_root"] = str(args.detect_root.resolve())
    limits = _validate_limits(args.params) if args.params is not None else {}
    if args.max_failure_ratio is None and "max_failure_ratio" in limits:
        options["max_failure_ratio"] = limits["max_failure_ratio"]
    options["validate"] = limits
    options["reports_dir"] = str(args.reports_dir.resolve()) if args.reports_dir else None
    return options


def _validate_limits(params: Path) -> dict:
    """The contract limits of params.yaml's ``validate`` section (the flow validates after merging)."""
    import yaml

    from schemas.contracts.limits import ContractLimits

    section = (yaml.safe_load(params.read_text(encoding="utf-8")) or {}).get("validate") or {}
    return ContractLimits.from_params(section).as_dict()


def _flow(args: argparse.Namespace):
    from flows.ingest import ingest, task_runner

    return ingest.with_options(task_runner=task_runner(args.runner, args.dask_address, args.dask_workers))


def _run(args: argparse.Namespace, only: list[str] | None = None) -> int:
    state = _flow(args)(str(args.corpus.resolve()), str(args.out.resolve()), _options(args), only, return_state=True)
    if state.is_completed():
        report = state.result()
        print(report.markdown())
        print(f"manifests: {args.out / 'videos.parquet'}, {args.out / 'faces.parquet'}\ncrops: {args.out / 'crops'}")
        return 0
    print(f"facecorpus: ingest ended {state.type.value}: {state.message}", file=sys.stderr)
    return 1


def _cmd_ingest(args: argparse.Namespace) -> int:
    base.need_corpus_and_out(args)
    return _run(args)


def _cmd_retry_failed(args: argparse.Namespace) -> int:
    from pipeline.ingest import forget_retryable_failures
    from pipeline.options import IngestSettings

    base.need_corpus_and_out(args)
    options = _options(args)
    video_ids = forget_retryable_failures(args.corpus, args.out, options, IngestSettings.from_options(options))
    print(f"retrying {len(video_ids)} videos that failed transiently")
    return _run(args, only=video_ids)


def _cmd_serve(args: argparse.Namespace) -> int:
    base.need_corpus_and_out(args)
    parameters = {"corpus": str(args.corpus.resolve()), "out": str(args.out.resolve()), "options": _options(args), "only": None}
    _flow(args).serve(name=args.name, cron=args.cron, parameters=parameters)
    return 0


COMMANDS = (*base.LIBRARY_COMMANDS, _register)


def main(argv: Sequence[str] | None = None) -> int:
    return base.main(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
