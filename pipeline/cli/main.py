"""The ``facecorpus`` command line: the one entry point for people, dvc.yaml, make and flows/.

Commands register themselves from their modules (``extract``: extract,
sample-corpus; ``dvc``: the DVC stages and release; ``curate``: curate, select;
``validate``; ``report``; ``privacy``: forget, audit, gc). The console
script is ``flows.cli:main``, which adds the Prefect commands (``ingest``,
``serve``, ``retry-failed``) so that ``pipeline`` never imports prefect. Every
command's options come from ``pipeline/config/`` through ``pipeline/cli/options.py``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pipeline.cli import curate, dvc, extract, privacy, report, validate
from pipeline.cli.options import FORMATTER
from pipeline.errors import CorpusError, ModelNotFoundError, OutputError
from pipeline.records import spare_pandas
from pipeline.runs.lock import DatasetLocked

Registrar = Callable[[argparse._SubParsersAction], None]
LIBRARY_COMMANDS: tuple[Registrar, ...] = (
    extract.register,
    dvc.register,
    curate.register,
    validate.register,
    report.register,
    privacy.register,
)
EXIT_USAGE = 2
EXIT_FAILURE = 1


def build_parser(registrars: Sequence[Registrar] = LIBRARY_COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecorpus", description="Turn video corpora into face datasets.", formatter_class=FORMATTER)
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="logging level of facecorpus's own messages; other libraries' (Great Expectations, ...) show warnings "
        "and errors only, unless DEBUG (default: WARNING)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in registrars:
        register(sub)
    return parser


# facecorpus's loggers, and the ingest flow's run logs (Prefect's flow and task run loggers: the per-video lines).
OWN_LOGGERS = ("pipeline", "flows", "schemas", "prefect.flow_runs", "prefect.task_runs")


def configure_logging(level: str) -> None:
    """``level`` for facecorpus's loggers; third-party INFO chatter (at INFO, Great Expectations alone
    logs 300+ lines per validation) is dropped unless ``level`` is DEBUG."""
    root = logging.getLogger()
    ours = not root.handlers  # a host that configured logging (pytest, an embedding app) keeps its handlers as they are
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if ours and logging.getLevelName(level.upper()) != logging.DEBUG:
        for handler in root.handlers:
            handler.addFilter(_own_or_warning)


def _own_or_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or any(record.name == n or record.name.startswith(n + ".") for n in OWN_LOGGERS)


def main(argv: Sequence[str] | None = None, registrars: Sequence[Registrar] = LIBRARY_COMMANDS) -> int:
    parser = build_parser(registrars)
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    spare_pandas()  # pandas loads only for the commands that use it (0.3 s otherwise spent by pyarrow)
    try:
        return args.func(args)
    except (ValueError, CorpusError, ModelNotFoundError) as exc:
        print(f"facecorpus: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, DatasetLocked) as exc:  # disk full, read-only output, another run: one line, no traceback
        print(f"facecorpus: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


def _one_line(exc: BaseException) -> str:
    """An environment error as one line naming the path (inputs' errors are rows, never here)."""
    if isinstance(exc, OutputError):
        return str(exc.strerror)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
