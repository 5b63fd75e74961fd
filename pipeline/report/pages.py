"""The report's pages: ``index.html`` (summary, funnel, drop reasons, distributions, breakdowns,
rejected crops by reason, identities, failed inputs), ``videos.html`` (a contact sheet per
video), ``video/<video_id>.html`` (the drawn frames, a row of crops per track, the face rows)
and ``validation.html`` (each suite's result in plain words)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from html import escape
from pathlib import Path

import polars as pl

from pipeline.report import html
from pipeline.report.caps import EXAMPLE_ROWS, TABLE_ROWS, VIDEOS_LISTED
from pipeline.report.data import Breakdown, Step, Tables, all_filter_reasons
from pipeline.report.frames import DrawnFrame
from pipeline.report.plots import Plot
from pipeline.report.sheets import Cell, Sheet
from pipeline.report.validation import FailedCheck, ValidationView

FACE_TABLE_COLUMNS = (
    "frame_index",
    "pts_s",
    "status",
    "filter_reason",
    "det_score",
    "quality_score",
    "face_size_px",
    "sharpness",
    "yaw_deg",
)


@dataclass(frozen=True)
class Site:
    """Where things are, for links: the dataset, the report folder, the pages that exist."""

    dataset: Path
    out: Path  # the final report folder (links are computed against it, not the temp folder it is built in)
    video_pages: frozenset[str]

    def crop_href(self, crop_path: str, root: str) -> str:
        return os.path.relpath(self.dataset / crop_path, self.out / root) if crop_path else "#"

    def file_href(self, path: Path) -> str:
        return os.path.relpath(path, self.out)

    def cell_href(self, cell: Cell, root: str) -> str:
        if cell.video_id in self.video_pages:
            return f"{root}video/{cell.video_id}.html#f-{cell.face_id}"
        return self.crop_href(cell.crop_path, root)


@dataclass(frozen=True)
class IndexParts:
    summary: list[tuple[str, object]]
    links: list[tuple[str, str]]  # (text, href)
    funnel: list[Step]
    drops: list[tuple[str, int]]
    plots: list[Plot]
    breakdowns: list[Breakdown]
    reason_sheets: list[tuple[str, int, Sheet | None]]
    identity_sheets: list[tuple[str, int, Sheet | None]]


def index_page(site: Site, tables: Tables, parts: IndexParts, validation: ValidationView) -> str:
    body = [html.table(("", ""), parts.summary)]
    body.append("<p>" + " · ".join(html.link(href, text) for text, href in parts.links) + "</p>")
    body.append(f"<p>Validation: {_verdict(validation)} ({html.link('validation.html', 'details')})</p>")
    body.append("<h2>Funnel: from inputs to kept crops</h2>")
    body.append(html.table(("step", "count", "note"), [(s.name, s.count, s.note) for s in parts.funnel]))
    body.append("<h2>Why faces were dropped</h2>")
    body.append(html.table(("first reason", "faces"), parts.drops) if parts.drops else "<p>no face was dropped</p>")
    every = all_filter_reasons(tables.faces)
    if every:
        body.append("<p>Every filter rule failed (a face may fail several):</p>" + html.table(("rule", "faces"), every))
    body.append("<h2>Distributions</h2><div class=figs>")
    body += [html.figure(p.file, p.title, p.caption) for p in parts.plots]
    body.append("</div>")
    for b in parts.breakdowns:
        body.append(f"<h3>per {escape(b.field)}</h3>" + html.table((b.field, "videos", "faces", "kept faces"), b.rows))
    body.append("<h2>Rejected crops, by reason</h2>")
    body += _sheets(site, parts.reason_sheets, "reason")
    if parts.identity_sheets:
        body.append("<h2>Identities</h2>")
        body += _sheets(site, parts.identity_sheets, "identity")
    body.append(_failed_inputs(tables))
    return html.page("facecorpus dataset report", "\n".join(body), "")


def _sheets(site: Site, sheets: list[tuple[str, int, Sheet | None]], what: str) -> list[str]:
    if not sheets:
        return ['<p class="muted">none</p>']
    out = []
    for name, total, sheet in sheets:
        shown = len(sheet.cells) if sheet else 0
        out.append(f"<h3>{escape(what)} {escape(name)}: {total:,} faces ({shown} shown, spread over the dataset)</h3>")
        out.append(html.sheet(sheet, "", lambda c: site.cell_href(c, "")))
    return out


def _failed_inputs(tables: Tables) -> str:
    failed = tables.videos.filter(pl.col("status") != "ok")
    if failed.height == 0:
        return "<h2>Failed inputs</h2><p>none</p>"
    rows = failed.select("uri", "error_kind", "error").head(VIDEOS_LISTED).rows()
    return f"<h2>Failed inputs ({failed.height:,})</h2>" + html.table(("uri", "kind", "reason"), rows)


def _verdict(validation: ValidationView) -> str:
    if validation.problem:
        return f'<span class="warn">{escape(validation.problem)}</span>'
    failed = sum(len(s.failed) for s in validation.suites)
    if validation.passed:
        return f'<span class="ok">passed</span> ({failed} warnings)' if failed else '<span class="ok">passed, every check</span>'
    return f'<span class="bad">FAILED</span>: {failed} checks failed'


def videos_page(site: Site, listed: pl.DataFrame, sheets: dict[str, Sheet | None]) -> str:
    body = [f"<p>{listed.height:,} videos, most faces first; the first {len(site.video_pages)} have a page and a contact sheet.</p>"]
    rows = []
    for row in listed.head(VIDEOS_LISTED).iter_rows(named=True):
        name = html.link(f"video/{row['video_id']}.html", row["uri"]) if row["video_id"] in site.video_pages else escape(row["uri"])
        pair = row.get("pair_mode") or ""
        rows.append((name, row["status"], row["faces"], row["kept"], row["unchanged_pair"], pair, row.get("license"), row.get("split"),
                     row.get("label")))  # fmt: skip
    header = ("video", "status", "faces", "kept", "unchanged fake faces", "pair mode", "license", "split", "label")
    body.append(html.table(header, rows, raw_columns=(0,)))
    body.append("<h2>Contact sheets per video</h2>")
    for row in listed.filter(pl.col("video_id").is_in(list(sheets))).iter_rows(named=True):
        title = html.link(f"video/{row['video_id']}.html", row["uri"])
        body.append(f"<h3>{title}: {row['faces']:,} faces, {row['kept']:,} kept</h3>")
        body.append(html.sheet(sheets[row["video_id"]], "", lambda c: site.cell_href(c, "")))
    return html.page("videos", "\n".join(body), "")


@dataclass(frozen=True)
class VideoParts:
    video: dict
    faces: pl.DataFrame
    frames: list[DrawnFrame]
    tracks: list[tuple[int, str, int, Sheet | None]]  # number, track_id, faces, sheet
    track_numbers: dict[str, int]


def video_page(site: Site, parts: VideoParts) -> str:
    root = "../"
    video = parts.video
    facts = [(k, video.get(k)) for k in ("uri", "video_id", "status", "error", "width_px", "height_px", "duration_s", "fps", "sampling",
                                         "frames_sampled", "faces_found", "detector", "preset", "license", "consent", "split",
                                         "label", "original", "pair_mode", "pair_reason")]  # fmt: skip
    body = [html.table(("", ""), facts)]
    body.append("<h2>Sampled frames</h2><p class=muted>Boxes: green kept, orange filtered, grey duplicate; dots: landmarks; "
                "T<i>n</i>: track number. Click a box for its row.</p>")  # fmt: skip
    body.append(html.strip(parts.frames, root) if parts.frames else "<p>no face found in this video</p>")
    body.append(f"<h2>Tracks ({len(parts.tracks)} shown)</h2>")
    for number, track_id, count, sheet in parts.tracks:
        body.append(f"<h3>T{number}: {count} faces <span class=muted>{escape(track_id)}</span></h3>")
        body.append(html.sheet(sheet, root, lambda c: f"#f-{c.face_id}"))
    body.append(_face_rows(site, parts, root))
    return html.page(f"video {video['uri']}", "\n".join(body), root)


def _face_rows(site: Site, parts: VideoParts, root: str) -> str:
    faces = parts.faces
    columns = [c for c in FACE_TABLE_COLUMNS if c in faces.columns]
    rows = []
    for row in faces.head(TABLE_ROWS).iter_rows(named=True):
        anchor = f'<span id="f-{escape(row["face_id"])}">{escape(row["face_id"])}</span>'
        track = parts.track_numbers.get(row.get("track_id") or "")
        crop = html.link(site.crop_href(row.get("crop_path") or "", root), row.get("crop_path") or "")
        rows.append((anchor, f"T{track}" if track else "-", *(row[c] for c in columns), crop))
    more = f" (the first {TABLE_ROWS} of {faces.height:,})" if faces.height > TABLE_ROWS else ""
    return f"<h2>Face rows{more}</h2>" + html.table(("face_id", "track", *columns, "crop"), rows, raw_columns=(0, len(columns) + 2))


def validation_page(site: Site, validation: ValidationView, standalone: bool = False) -> str:
    body = [f"<p>{_verdict(validation)}. Source: <code>{escape(str(validation.source))}</code></p>"]
    if validation.data_docs is not None and validation.data_docs.is_file():
        pages = validation.data_docs.parent / "validations"
        if pages.is_dir():
            body.append(f"<p>Per-suite Great Expectations pages: {html.link(site.file_href(pages), str(pages))}</p>")
    for suite in validation.suites:
        verdict = "every check passed" if not suite.failed else f"{len(suite.failed)} of {suite.checks} checks failed"
        body.append(f"<h2>{escape(suite.suite)}: {suite.rows:,} rows, {suite.checks} checks, {verdict}</h2>")
        body += [_failed_check(f) for f in suite.failed]
    return html.page("validation", "\n".join(body), None if standalone else "")


def _failed_check(failed: FailedCheck) -> str:
    css = "bad" if failed.severity == "error" else "warn"
    count = f"{failed.unexpected:,} of {failed.rows:,} rows fail it" if failed.unexpected is not None and failed.rows else ""
    parts = [f'<h3 class="{css}">{escape(failed.severity.upper())} {escape(failed.check)}</h3>',
             f"<p>Expected: {escape(failed.statement)}. {escape(count)}</p>"]  # fmt: skip
    if failed.observed:
        parts.append(f"<p>Observed: <code>{escape(failed.observed)}</code></p>")
    if failed.examples:
        columns = list(dict.fromkeys(k for e in failed.examples for k in e))
        parts.append(f"<p>Example offending rows (at most {EXAMPLE_ROWS}; <code>chk_*</code> are the values the check computed):</p>")
        parts.append(html.table(columns, [[e.get(c) for c in columns] for e in failed.examples]))
    return "\n".join(parts)
