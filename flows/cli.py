"""The ``facecorpus`` console script: the library commands plus the Prefect ones.

``ingest`` runs the ingest flow once now; ``serve`` serves it as a deployment on a
schedule; ``retry-failed`` reruns the videos that failed transiently. ``ingest``
and ``retry-failed`` work against ``PREFECT_API_URL`` when it is set, and otherwise
against Prefect's temporary local server (which binds 127.0.0.1). ``serve``
requires ``PREFECT_API_URL``: the temporary server runs no scheduler service (a
10 s interval gave 0 runs in 60 s there, 4 in 45 s against ``prefect server
start``), so serving against it would print "serving" and never run a flow.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.alignment.crops import CROPS_DIR
from pipeline.cli import main as base
from pipeline.cli.extract import EXTRACT_FLAGS
from pipeline.cli.options import FORMATTER, Flag, add_params_flags, options_from, section_flags
from pipeline.config import VALIDATION_REPORT, Options
from schemas.manifests import FACES_MANIFEST, VIDEOS_MANIFEST

DEPLOYMENT_NAME = "facecorpus-ingest"
INGEST_FLAGS = [
    *EXTRACT_FLAGS,
    *section_flags("curate"),
    *section_flags("ingest"),
    Flag("validate", "max_failure_ratio"),
    Flag("validate", "reports_dir"),
]


def _register(sub: argparse._SubParsersAction) -> None:
    commands = (
        ("ingest", "run the ingest flow once now on what is new in CORPUS",
         "Snapshot CORPUS, process what is new in shards (Prefect tasks), merge, validate and report.", _cmd_ingest),
        ("serve", "serve the ingest flow as a deployment on a cron schedule",
         "Serve the ingest flow over CORPUS as a deployment that runs on a cron schedule until stopped.", _cmd_serve),
        ("retry-failed", "rerun only the videos that failed with a transient error or a timeout",
         "Forget the transient failures and timeouts recorded for CORPUS, and run the ingest flow on those videos.", _cmd_retry_failed),
    )  # fmt: skip
    for name, help, description, func in commands:
        parser = sub.add_parser(name, help=help, description=description, formatter_class=FORMATTER)
        add_params_flags(parser, INGEST_FLAGS)
        parser.set_defaults(func=func)
        if name == "serve":
            _serve_flags(parser)


def _serve_flags(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 * * * *" (hourly)')
    when.add_argument("--interval-s", type=float, help="run every this many seconds")
    parser.add_argument("--timezone", default=None, help="IANA time zone of the cron schedule, e.g. Europe/Paris (default: UTC)")
    parser.add_argument("--name", default=DEPLOYMENT_NAME, help=f"deployment name (default: {DEPLOYMENT_NAME})")
    parser.add_argument(
        "--keep-schedule-on-exit",
        action="store_true",
        help="leave the schedule active when serve stops (default: Prefect pauses it; a worker of a work pool may pick runs up)",
    )


def _flow(options: Options):
    from flows.ingest import ingest, task_runner

    return ingest.with_options(task_runner=task_runner(options.ingest))


def _run(options: Options, only: list[str] | None = None) -> int:
    from flows.reaper import reap_on_exit
    from flows.server import announce, prefect_api

    reap_on_exit()  # Prefect's temporary server dies with this command, even on SIGKILL
    with prefect_api() as which:  # the flow holds the dataset's lock (flows/ingest.py)
        announce(which)
        state = _flow(options)(options.to_json(), only, return_state=True)
    if state.is_completed():
        report = state.result()
        out = options.extract.out_dir
        print(report.markdown())
        print(f"manifests: {out / VIDEOS_MANIFEST}, {out / FACES_MANIFEST}\ncrops: {out / CROPS_DIR}")
        from pipeline.report.build import INDEX, VALIDATION_PAGE

        report_dir = options.report.out_path(out)
        print(_validation_line(options))
        print(f"report: {report_dir / INDEX} (open it in a browser; no server needed)")
        print(f"validation, in plain words: {report_dir / VALIDATION_PAGE}")
        return 0
    print(_validation_line(options))
    print(f"facecorpus: ingest ended {state.type.value}: {state.message}", file=sys.stderr)
    return 1


def _validation_line(options: Options) -> str:
    """The validation verdict the flow left (validation.json next to the dataset), in one line."""
    import json

    path = options.validate.reports_path(options.extract.out_dir) / VALIDATION_REPORT
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"validation: no report at {path}"
    errors = [e["check"] for e in body.get("errors", [])]
    verdict = "PASSED" if body.get("passed") else "FAILED"
    named = f": {', '.join(errors)}" if errors else ""
    return f"validation: {verdict} ({len(errors)} errors{named}, {len(body.get('warnings', []))} warnings): {path}"


def _absolute(options: Options) -> Options:
    """Paths made absolute: the flow may run elsewhere (a deployment, a Dask worker)."""
    extract, reports = options.extract, options.validate.reports_dir
    paths = {k: _resolved(getattr(extract, k)) for k in ("corpus", "out", "detect_root", "model_file") if getattr(extract, k)}
    return options.merged({"extract": paths, "validate": {"reports_dir": _resolved(reports)} if reports else {}})


def _resolved(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def _cmd_ingest(args: argparse.Namespace) -> int:
    return _run(_absolute(options_from(args)))


def _cmd_retry_failed(args: argparse.Namespace) -> int:
    from pipeline.runs.ingest import forget_retryable_failures
    from pipeline.runs.lock import folders_lock

    options = _absolute(options_from(args))
    with folders_lock([options.extract.detect_dir, options.extract.out_dir]):  # no run is writing the records it forgets
        video_ids = forget_retryable_failures(options)
    print(f"retrying {len(video_ids)} videos that failed transiently")
    return _run(options, only=video_ids)


SERVE_NEEDS_SERVER = (
    "facecorpus serve: PREFECT_API_URL is not set. Prefect's temporary server runs no scheduler, so a served "
    "deployment would never run. Start a server (`prefect server start`, in its own terminal or as a service) "
    "and set PREFECT_API_URL (e.g. `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`), then serve again."
)


def _cmd_serve(args: argparse.Namespace) -> int:
    from prefect.schedules import Cron, Interval
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print(SERVE_NEEDS_SERVER, file=sys.stderr)
        return 2
    options = _absolute(options_from(args))
    from flows.reaper import reap_on_exit

    reap_on_exit()
    schedule = Cron(args.cron, timezone=args.timezone) if args.cron else Interval(args.interval_s, timezone=args.timezone)
    # One run of a dataset at a time: a deployment serves one dataset folder, so its
    # concurrency limit of 1 means runs of one dataset never overlap (the rest wait).
    _flow(options).serve(
        name=args.name,
        schedules=[schedule],
        global_limit=1,
        pause_on_shutdown=not args.keep_schedule_on_exit,
        parameters={"options": options.to_json(), "only": None},
    )
    return 0


COMMANDS = (*base.LIBRARY_COMMANDS, _register)


def main(argv: Sequence[str] | None = None) -> int:
    return base.main(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
