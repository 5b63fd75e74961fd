"""One extraction run over a corpus: snapshot, extract each video, merge the manifests."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from pipeline.corpus import Corpus, CorpusEntry, load_corpus
from pipeline.extract import ExtractConfig, ExtractStage, VideoInput, VideoResult, table_bytes
from pipeline.fsutil import atomic_write_bytes, sha256_bytes, sha256_file
from schemas.manifests import CORPUS_FIELDS, FACES_SCHEMA, VIDEOS_SCHEMA

VIDEOS_MANIFEST = "videos.parquet"
FACES_MANIFEST = "faces.parquet"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    out_dir: Path
    videos_ok: int
    videos_failed: int
    videos_skipped: int
    frames_sampled: int
    faces: int
    wall_s: float
    failures: tuple[str, ...]

    @property
    def frames_per_s(self) -> float:
        return self.frames_sampled / self.wall_s if self.wall_s > 0 else 0.0


def snapshot(corpus: Corpus) -> list[VideoInput]:
    """Hash every entry; entries with the same bytes become one video."""
    by_id: dict[str, list[CorpusEntry]] = {}
    sizes: dict[str, int | None] = {}
    problems: dict[str, str] = {}
    for entry in corpus.entries:
        video_id, size, problem = _identify(entry)
        by_id.setdefault(video_id, []).append(entry)
        sizes[video_id] = size
        if problem:
            problems[video_id] = problem
    inputs = []
    for video_id, entries in by_id.items():
        first, *rest = sorted(entries, key=lambda e: e.uri)
        inputs.append(VideoInput(video_id, first, tuple(e.uri for e in rest), sizes[video_id], problems.get(video_id)))
    return sorted(inputs, key=lambda v: v.entry.uri)


def _identify(entry: CorpusEntry) -> tuple[str, int | None, str | None]:
    """(video_id, size, problem). Inputs that cannot be read are keyed by their uri."""
    if entry.problem is None and entry.path.is_file():
        try:
            return sha256_file(entry.path), entry.path.stat().st_size, None
        except OSError as exc:
            problem = f"{entry.uri}: unreadable ({exc.strerror or type(exc).__name__})"
    else:
        problem = entry.problem or f"{entry.uri}: not a regular file"
    return "uri-" + sha256_bytes(entry.uri.encode())[:59], None, problem


def run_extract(
    corpus_location: Path,
    out_dir: Path,
    config: ExtractConfig,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> RunSummary:
    started = time.perf_counter()
    inputs = snapshot(load_corpus(corpus_location))
    stage = ExtractStage(out_dir, config)
    wrapped = progress(inputs) if progress else inputs
    results = list(stage.run(wrapped))
    write_manifests(Path(out_dir), inputs, results)
    fresh = [r for r in results if not r.skipped]
    return RunSummary(
        out_dir=Path(out_dir),
        videos_ok=sum(r.video["status"] == "ok" for r in results),
        videos_failed=sum(r.video["status"] != "ok" for r in results),
        videos_skipped=len(results) - len(fresh),
        frames_sampled=sum(r.video["frames_sampled"] for r in fresh),
        faces=sum(r.faces.num_rows for r in results),
        wall_s=time.perf_counter() - started,
        failures=tuple(r.video["error"] for r in results if r.video["status"] != "ok"),
    )


def write_manifests(out_dir: Path, inputs: list[VideoInput], results: list[VideoResult]) -> dict[str, bool]:
    """Merge per-video results into videos.parquet and faces.parquet (unchanged files are not rewritten)."""
    videos = pl.from_arrow(pa.Table.from_pylist([_video_manifest_row(i, r) for i, r in zip(inputs, results)], schema=VIDEOS_SCHEMA))
    faces = _faces_frame(inputs, results)
    written = {}
    for name, frame, schema, keys in (
        (VIDEOS_MANIFEST, videos, VIDEOS_SCHEMA, ["uri"]),
        (FACES_MANIFEST, faces, FACES_SCHEMA, ["video_id", "frame_index", "face_index"]),
    ):
        table = frame.sort(keys).to_arrow().select(schema.names).cast(schema)
        written[name] = atomic_write_bytes(out_dir / name, table_bytes(table), skip_if_same=True)
    return written


def _video_manifest_row(item: VideoInput, result: VideoResult) -> dict:
    return {
        **result.video,
        "uri": item.entry.uri,
        "duplicate_uris": list(item.duplicate_uris),
        "size_bytes": item.size_bytes,
        **item.entry.fields,
    }


def _faces_frame(inputs: list[VideoInput], results: list[VideoResult]) -> pl.DataFrame:
    parts = [r.faces for r in results if r.faces.num_rows]
    empty = pl.from_arrow(FACES_SCHEMA.empty_table())
    if not parts:
        return empty
    faces = pl.from_arrow(pa.concat_tables(parts)).drop("uri")
    context = pl.DataFrame(
        [{"video_id": i.video_id, "uri": i.entry.uri, **{k: i.entry.fields.get(k) for k in CORPUS_FIELDS}} for i in inputs],
        schema={"video_id": pl.String, "uri": pl.String, **{k: pl.String for k in CORPUS_FIELDS}},
    )
    return faces.join(context, on="video_id", how="left")
