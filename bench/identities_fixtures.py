"""Identity clusters on the labelled faces we have here: pairwise precision and recall, and the embedding cost.

    .venv/bin/python bench/identities_fixtures.py [--json out.json]

The labelled set (labels by eye, checked against shared/fixtures/README.md):

- Barack Obama: obama_portrait.jpg, obama_whitehouse.jpg, the left face of
  two_people.jpg, the right one of the two large faces of obama_and_biden.jpg;
- Joe Biden: the right face of two_people.jpg, the left large face of obama_and_biden.jpg;
- the child of obama_and_biden.jpg (its smallest face);
- Lin-Manuel Miranda: lin_manuel_miranda.png and the single face of hamilton.mp4's
  close-up (fps:1 frames 4-7, the README's identity note);
- Alex Lacamoire: alex_lacamoire.png; Tom Hanks: insightface's Tom_Hanks_54745.png;
- the six people of insightface's t1.jpg (one group photo: six different people);
- and, to have more than one photo per person, ffmpeg variants of each one-face
  still: half size with JPEG quality 5 (``-q:v 25``), mirrored, hue-shifted: each is its
  original's person.

It runs the pipeline (``run_extract`` at fps:1, CenterFace, the default dlib
embedder, 3 faces per track) over them, reads faces.parquet's ``identity_id``,
and counts pairs of labelled faces: precision = pairs put in one identity that
are one person / pairs put in one identity; recall = pairs of one person put in
one identity / pairs of one person. Hamilton's other faces are unlabelled and
left out. Embedding cost: the embed stage's seconds per face embedded and per track.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import cv2  # noqa: E402
import polars as pl  # noqa: E402

from bench.corpus import FIXTURES  # noqa: E402
from pipeline.config import CurateOptions, ExtractOptions  # noqa: E402
from pipeline.corpus.sample import package_file  # noqa: E402
from pipeline.embedding.base import EmbedderConfig, face_in_crop  # noqa: E402
from pipeline.embedding.registry import make_embedder  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from pipeline.runs.extract import run_extract  # noqa: E402

ONE_FACE = {
    "obama_portrait.jpg": "obama",
    "obama_whitehouse.jpg": "obama",
    "lin_manuel_miranda.png": "lin",
    "alex_lacamoire.png": "alex",
    "Tom_Hanks_54745.png": "hanks",
}
VARIANTS = {"small": "scale=iw/2:ih/2", "mirror": "hflip", "hue": "hue=h=40"}
CLOSE_UP_FRAMES = (4, 5, 6, 7)


def build_corpus(root: Path) -> None:
    for name in ("two_people.jpg", "obama_and_biden.jpg", "hamilton.mp4", *[n for n in ONE_FACE if n != "Tom_Hanks_54745.png"]):
        shutil.copy(FIXTURES / name, root / name)
    for name in ("t1.jpg", "Tom_Hanks_54745.png"):
        shutil.copy(package_file("insightface", "data", "images", name), root / name)
    for name in ONE_FACE:
        for tag, vf in VARIANTS.items():
            target = root / f"{Path(name).stem}_{tag}.jpg"
            quality = ["-q:v", "25"] if tag == "small" else []
            subprocess.run(
                [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(root / name), "-vf", vf, *quality, str(target)], check=True
            )


def labels(faces: pl.DataFrame) -> pl.DataFrame:
    """face_id, person for the labelled faces."""
    rows = []
    for uri, frame in faces.group_by("uri"):
        uri = uri[0]
        stem = Path(uri).stem.rsplit("_", 1)[0] if any(uri.endswith(f"_{t}.jpg") for t in VARIANTS) else Path(uri).stem
        original = next((n for n in ONE_FACE if Path(n).stem == stem), None)
        if original is not None:
            best = frame.sort("det_score", descending=True).head(1)
            rows.append((best["face_id"][0], ONE_FACE[original]))
        elif uri == "two_people.jpg":
            by_x = frame.sort(pl.col("bbox_xyxy_px").arr.first())
            rows += list(zip(by_x["face_id"], ["obama", "biden"]))
        elif uri == "obama_and_biden.jpg":
            big = frame.sort("face_size_px", descending=True)
            two = big.head(2).sort(pl.col("bbox_xyxy_px").arr.first())
            rows += list(zip(two["face_id"], ["biden", "obama"])) + [(big["face_id"][2], "child")]
        elif uri == "t1.jpg":
            rows += [(f, f"t1_{k}") for k, f in enumerate(frame.sort("face_index")["face_id"])]
        elif uri == "hamilton.mp4":
            close = frame.filter(pl.col("frame_index").is_in(CLOSE_UP_FRAMES)).sort("face_size_px", descending=True).unique("frame_index")
            rows += [(f, "lin") for f in close["face_id"]]
    return pl.DataFrame(rows, schema={"face_id": pl.String, "person": pl.String}, orient="row")


def pair_scores(table: pl.DataFrame) -> dict:
    people, ids = table["person"].to_list(), table["identity_id"].to_list()
    tp = fp = fn = 0
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            same, together = people[i] == people[j], ids[i] == ids[j]
            tp += same and together
            fp += together and not same
            fn += same and not together
    return {"faces": len(ids), "people": len(set(people)), "pairs_same": tp + fn, "pairs_together": tp + fp,
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0}  # fmt: skip


def embedding_cost(out: Path, faces: pl.DataFrame, stage_s: float) -> dict:
    """The embed stage's seconds per face and per track in the run, and a timed re-embedding of the
    same stored crops in this process (wall and CPU: the machine may be shared)."""
    embedded = pl.read_parquet(out / "embeddings.parquet").join(faces, on="face_id")
    tracks = embedded["track_id"].n_unique()
    embedder = make_embedder(EmbedderConfig("dlib"))
    crops = [
        face_in_crop(cv2.cvtColor(cv2.imread(str(out / p)), cv2.COLOR_BGR2RGB), a, b, lm)
        for p, a, b, lm in embedded.select("crop_path", "affine_2x3", "bbox_xyxy_px", "landmarks5_px").rows()
    ]
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.embed(crops)
    wall, cpu = (time.perf_counter() - wall) / len(crops), (time.process_time() - cpu) / len(crops)
    per_track = len(crops) / tracks
    return {"faces_embedded": len(crops), "tracks": tracks, "faces_per_track": round(per_track, 2), "detected_faces": faces.height,
            "stage_ms_per_face": round(stage_s / len(crops) * 1e3, 1), "ms_per_face_wall": round(wall * 1e3, 1),
            "ms_per_face_cpu": round(cpu * 1e3, 1), "ms_per_track_cpu": round(cpu * per_track * 1e3, 1),
            "load_avg": round(os.getloadavg()[0], 1)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="identities-bench-") as tmp:
        root, out = Path(tmp) / "corpus", Path(tmp) / "out"
        root.mkdir()
        build_corpus(root)
        summary = run_extract(ExtractOptions(corpus=str(root), out=str(out)), CurateOptions())
        faces = pl.read_parquet(out / "faces.parquet")
        scored = labels(faces).join(faces.select("face_id", "identity_id"), on="face_id")
        result = pair_scores(scored)
        result |= embedding_cost(out, faces, summary.counts["embed"].seconds)
    print(json.dumps(result, indent=1))
    print(f"pairwise precision {result['precision']:.3f}, recall {result['recall']:.3f} over {result['faces']} labelled faces of "
          f"{result['people']} people; embedding {result['ms_per_face_cpu']} CPU ms per face ({result['ms_per_face_wall']} wall), "
          f"{result['ms_per_track_cpu']} CPU ms per track ({result['faces_per_track']} faces)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
