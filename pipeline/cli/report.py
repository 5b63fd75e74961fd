"""``facecorpus report DATASET``: the offline HTML report of a dataset folder (``pipeline/report``).

Its keys are params.yaml's ``report`` section; the validation result is read from
``validate.reports_dir`` (unset: ``<dataset>/reports``) and the frames are drawn from
``report.corpus`` (unset: ``extract.corpus`` of the params file, when given).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.options import FORMATTER, Flag, add_params_flags, options_from, section_flags

REPORT_FLAGS = [Flag("report", "dataset", positional=True), *section_flags("report", exclude=("dataset",)), Flag("validate", "reports_dir")]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="write the dataset's offline HTML report (summary, funnel, plots, contact sheets, a page per video, validation)",
        description="Write a static HTML report of DATASET that opens from disk with no server and no network; prints its path.",
        formatter_class=FORMATTER,
    )
    add_params_flags(parser, REPORT_FLAGS)
    parser.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from pipeline.report.build import build_report

    options = options_from(args)
    result = build_report(report_request(options, Path(options.report.dataset).expanduser()))
    print(result.summary())
    return 0


def report_request(options, dataset: Path):
    """The report of ``dataset`` as ``options`` (params.yaml's report, validate and extract sections) describe it."""
    from pipeline.report.build import ReportRequest

    report = options.report
    corpus = report.corpus or options.extract.corpus
    return ReportRequest(
        dataset=dataset,
        out=report.out_path(dataset),
        reports_dir=options.validate.reports_path(dataset),
        corpus=Path(corpus).expanduser() if corpus else None,
        card=Path(report.card).expanduser() if report.card else None,
        sheet_faces=report.sheet_faces,
        video_pages=report.video_pages,
    )
