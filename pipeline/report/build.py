"""``build_report``: the whole report of a dataset folder, built in a temp folder beside the
target and swapped in by rename when complete (a reader never sees half a report; a failed
build leaves the old one). What is drawn is capped (``pipeline/report/caps.py``, params.yaml
``report``), so the time and size stay bounded as the dataset grows."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.config import VALIDATION_REPORT
from pipeline.corpus.load import load_corpus
from pipeline.errors import CorpusError
from pipeline.fsutil import atomic_write_bytes
from pipeline.report import data, pages
from pipeline.report.caps import FACES_PER_TRACK, IDENTITIES, TRACKS_PER_PAGE
from pipeline.report.frames import frame_strip
from pipeline.report.output import write
from pipeline.report.plots import draw_plots
from pipeline.report.sheets import contact_sheet, inside
from pipeline.report.validation import read_validation
from schemas.manifests import FACES_MANIFEST, TRACKS_MANIFEST, VIDEOS_MANIFEST

INDEX = "index.html"
# The ingest flow's report (its Prefect artifact's markdown), written next to the manifests.
INGEST_REPORT = "ingest-report.md"
REPORT_KEY = "report-key.txt"  # what the report was built from (report_key); written last
VALIDATION_PAGE = "validation.html"


@dataclass(frozen=True)
class ReportRequest:
    dataset: Path
    out: Path
    reports_dir: Path  # where validation.json is
    corpus: Path | None = None  # the corpus, to draw frames from
    card: Path | None = None
    sheet_faces: int = 48
    video_pages: int = 100


@dataclass(frozen=True)
class ReportResult:
    index: Path
    files: int
    size_bytes: int
    wall_s: float
    video_pages: int

    def summary(self) -> str:
        size_mb = self.size_bytes / 1e6
        return f"report: {self.index} ({self.files} files, {size_mb:.1f} MB, {self.video_pages} video pages, {self.wall_s:.1f} s)"


def report_key(request: ReportRequest) -> str:
    """sha256 over what the report shows: the manifests' and validation.json's bytes, the request
    (but where it goes) and the report code's source. Equal keys: the same report."""
    digest = hashlib.sha256(repr({**request.__dict__, "out": None}).encode())
    sources = sorted(Path(__file__).parent.glob("*.py"))
    tables = [request.dataset / n for n in (VIDEOS_MANIFEST, FACES_MANIFEST, TRACKS_MANIFEST)]
    for path in [*tables, request.reports_dir / VALIDATION_REPORT, *sources]:
        digest.update(path.name.encode() + (path.read_bytes() if path.is_file() else b"-"))
    return digest.hexdigest()


def is_current(request: ReportRequest) -> bool:
    """True when the report at ``request.out`` was built from exactly this (a rerun that changed nothing)."""
    stored = request.out / REPORT_KEY
    return stored.is_file() and stored.read_text(encoding="utf-8").strip() == report_key(request)


def build_report(request: ReportRequest) -> ReportResult:
    started = time.perf_counter()
    dataset, out = request.dataset.resolve(), request.out.resolve()
    tables = data.load_tables(dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the report is for people to read
    try:
        _write_pages(request, dataset, out, tmp, tables)
        write(tmp, REPORT_KEY, report_key(request).encode())
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    pages_made = len(list((out / "video").glob("*.html"))) if (out / "video").is_dir() else 0
    return ReportResult(out / INDEX, len(files), size, time.perf_counter() - started, pages_made)


def _write_pages(request: ReportRequest, dataset: Path, out: Path, tmp: Path, tables: data.Tables) -> None:
    listed = data.videos_by_faces(tables)
    with_faces = listed.filter(pl.col("faces") > 0)
    paged = with_faces.head(request.video_pages)
    site = pages.Site(dataset, out, frozenset(paged["video_id"].to_list()))
    validation = read_validation(request.reports_dir / VALIDATION_REPORT, tables)
    breakdowns = data.breakdowns(tables)
    parts = pages.IndexParts(
        summary=_summary(dataset, tables, request),
        links=_links(site, dataset, request),
        funnel=data.funnel(tables),
        drops=data.drop_reasons(tables.faces),
        plots=draw_plots(tables, tmp, breakdowns),
        breakdowns=breakdowns,
        reason_sheets=_reason_sheets(dataset, tables, tmp, request.sheet_faces),
        identity_sheets=_identity_sheets(dataset, tables, tmp, request.sheet_faces),
    )
    write(tmp, INDEX, pages.index_page(site, tables, parts, validation).encode())
    write(tmp, VALIDATION_PAGE, pages.validation_page(site, validation).encode())
    faces_of = tables.faces.filter(pl.col("video_id").is_in(list(site.video_pages))).partition_by("video_id", as_dict=True)
    sheets = {}
    root = _corpus_root(request.corpus)
    for video in paged.iter_rows(named=True):
        faces = faces_of[(video["video_id"],)]
        kept_first = faces.sort(pl.col("status") != data.KEPT, maintain_order=True)
        sheets[video["video_id"]] = contact_sheet(dataset, data.spread(kept_first, request.sheet_faces), tmp, f"video-{video['video_id']}")
        write(tmp, f"video/{video['video_id']}.html", pages.video_page(site, _video_parts(dataset, tmp, root, video, faces)).encode())
    write(tmp, "videos.html", pages.videos_page(site, listed, sheets).encode())


def write_validation_page(dataset: Path, reports_dir: Path) -> Path:
    """``<reports_dir>/validation.html``: the validation result in plain words, on its own (what
    ``facecorpus validate`` prints instead of the Data Docs index, which needs a CDN)."""
    dataset, reports_dir = dataset.resolve(), reports_dir.resolve()
    tables = data.load_tables(dataset)
    view = read_validation(reports_dir / VALIDATION_REPORT, tables)
    page = reports_dir / VALIDATION_PAGE
    atomic_write_bytes(page, pages.validation_page(pages.Site(dataset, reports_dir, frozenset()), view, standalone=True).encode())
    return page


def _video_parts(dataset: Path, tmp: Path, corpus_root: Path | None, video: dict, faces: pl.DataFrame) -> pages.VideoParts:
    numbers: dict[str, int] = {}
    tracks = []
    if "track_id" in faces.columns:
        order = (
            faces.filter(pl.col("track_id").is_not_null()).group_by("track_id").agg(pl.col("pts_s").min().alias("t"), pl.len().alias("n"))
        )
        for number, (track_id, _, _) in enumerate(order.sort("t", "track_id").iter_rows(), start=1):
            numbers[track_id] = number
        for track_id, _, count in order.sort(["n", "t"], descending=[True, False]).head(TRACKS_PER_PAGE).iter_rows():
            members = data.spread(faces.filter(pl.col("track_id") == track_id).sort("pts_s"), FACES_PER_TRACK)
            sheet = contact_sheet(dataset, members, tmp, f"track-{track_id}", columns=FACES_PER_TRACK)
            tracks.append((numbers[track_id], track_id, count, sheet))
    source = inside(corpus_root, video["uri"]) if corpus_root is not None else None
    source = source if source is not None and source.is_file() else None
    frames = frame_strip(source, bool(video.get("is_image")), faces, numbers, tmp, video["video_id"])
    return pages.VideoParts(video, faces, frames, tracks, numbers)


def _reason_sheets(dataset: Path, tables: data.Tables, tmp: Path, cap: int) -> list:
    sheets = []
    faces = tables.faces.filter(pl.col("status") != data.KEPT)
    reason = pl.coalesce(pl.col("filter_reason"), pl.col("status")) if "filter_reason" in faces.columns else pl.col("status")
    faces = faces.with_columns(reason.alias("_reason"))
    for name, total in data.drop_reasons(tables.faces):
        chosen = data.spread(faces.filter(pl.col("_reason") == name), cap)
        sheets.append((name, total, contact_sheet(dataset, chosen, tmp, f"reason-{name}")))
    return sheets


def _identity_sheets(dataset: Path, tables: data.Tables, tmp: Path, cap: int) -> list:
    if "identity_id" not in tables.faces.columns:
        return []
    faces = tables.faces.filter(pl.col("identity_id").is_not_null())
    top = faces.group_by("identity_id").agg(pl.len().alias("n")).sort(["n", "identity_id"], descending=[True, False]).head(IDENTITIES)
    sheets = []
    for index, (identity, total) in enumerate(top.iter_rows()):
        chosen = data.spread(faces.filter(pl.col("identity_id") == identity), cap)
        sheets.append((str(identity), total, contact_sheet(dataset, chosen, tmp, f"identity-{index}")))
    return sheets


def _summary(dataset: Path, tables: data.Tables, request: ReportRequest) -> list[tuple[str, object]]:
    videos, faces = tables.videos, tables.faces
    rows: list[tuple[str, object]] = [("dataset", str(dataset)), ("videos", videos.height), ("faces", faces.height),
                                      ("faces kept", faces.filter(pl.col("status") == data.KEPT).height)]  # fmt: skip
    if tables.tracks is not None:
        rows.append(("tracks", tables.tracks.height))
    for column in ("detector_version", "sampling", "preset"):
        if column in videos.columns:
            rows.append((column, ", ".join(sorted(str(v) for v in videos[column].drop_nulls().unique().to_list())[:5])))
    rows.append(("caps", f"{request.sheet_faces} crops per contact sheet, {request.video_pages} video pages (report.sheet_faces, "
                 "report.video_pages); pipeline/report/caps.py for the rest"))  # fmt: skip
    return rows


def _links(site: pages.Site, dataset: Path, request: ReportRequest) -> list[tuple[str, str]]:
    links = [("videos and their contact sheets", "videos.html"), ("validation in plain words", "validation.html")]
    if request.card is not None and request.card.exists():
        links.append((f"dataset card ({request.card.name})", site.file_href(request.card.resolve())))
    if (dataset / INGEST_REPORT).is_file():
        links.append(("last ingest run", site.file_href(dataset / INGEST_REPORT)))
    return links


def _corpus_root(corpus: Path | None) -> Path | None:
    if corpus is None:
        return None
    try:
        return load_corpus(corpus).root
    except CorpusError:
        return None


def _swap(tmp: Path, out: Path) -> None:
    """Put the finished ``tmp`` at ``out``; the old report (if any) goes only after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
