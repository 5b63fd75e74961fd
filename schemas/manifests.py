"""Arrow schemas of the dataset manifests. ARCHITECTURE.md documents each column.

Units are in the names: ``_px`` pixels of the upright full-resolution frame
(origin top-left), ``_s`` seconds of the source's presentation timeline,
``_deg`` degrees. Fixed-size lists are row-major.
"""

from __future__ import annotations

import math

import pyarrow as pa

SCHEMA_VERSION = 3

# File names of the manifests in a dataset folder (and a release folder).
VIDEOS_MANIFEST = "videos.parquet"
FACES_MANIFEST = "faces.parquet"
TRACKS_MANIFEST = "tracks.parquet"
SHARD_INDEX = "shard_index.parquet"
# A face's members in a release shard: <face_id>.<crop ext>, <face_id>.mask.png (a frame-aligned fake's
# difference mask), <face_id>.json; USTAR: each a 512-byte header block, then its data padded to blocks.
MASK_MEMBER = "mask.png"
TAR_BLOCK = 512
CROP_LOCATIONS = "crop_locations.parquet"

SELECTION_MANIFEST = "selection.parquet"
# Curation II (pipeline/curate/embed.py, identities.py, splits.py, pairs.py): face embeddings, the
# identity registry, the split of every group, fake-to-original face pairs.
EMBEDDINGS_MANIFEST = "embeddings.parquet"
IDENTITIES_MANIFEST = "identities.parquet"
SPLITS_MANIFEST = "splits.parquet"
PAIRS_MANIFEST = "pairs.parquet"
# The tables whose rows belong to one face or one video, and the columns naming it (what
# removing a face or a video, e.g. `facecorpus forget`, must delete rows from). identities.parquet
# holds no per-face row (its counts are recomputed each run) and splits.parquet is keyed by group.
PER_FACE_TABLES = {
    FACES_MANIFEST: ("face_id",),
    EMBEDDINGS_MANIFEST: ("face_id",),
    PAIRS_MANIFEST: ("face_id", "original_face_id"),
}
PER_VIDEO_TABLES = {
    VIDEOS_MANIFEST: ("video_id",),
    FACES_MANIFEST: ("video_id",),
    TRACKS_MANIFEST: ("video_id",),
    PAIRS_MANIFEST: ("video_id", "original_video_id"),
}
# The corpus tables a release carries beside the three manifests.
GROUP_MANIFESTS = (IDENTITIES_MANIFEST, SPLITS_MANIFEST, PAIRS_MANIFEST, EMBEDDINGS_MANIFEST)
SPLIT_NAMES = ("train", "val", "test")
IDENTITY_SOURCES = ("cluster", "subject")
# Bins of the frame signature's colour histogram: hue, saturation, value.
HSV_HIST_BINS = (8, 4, 4)

# The values faces.parquet's status and filter_reason(s) hold (pipeline/records.py:Status,
# pipeline/curate/filters.py:RULES, in rule order).
FACE_STATUSES = ("ok", "filtered", "duplicate")
FILTER_REASONS = (
    "too_small", "low_score", "blurry", "too_dark", "too_bright", "low_contrast", "profile", "pitched", "at_border", "unchanged_pair",
)  # fmt: skip
# How a fake video's faces were found (videos.pair_mode): from its original's detections (frame-aligned)
# or by its own detection (pair_reason says why); how a pair was made (pairs.paired_by).
PAIR_MODES = ("aligned", "own_detection")
PAIRED_BY = ("aligned", "matched")

CORPUS_FIELDS = ("label", "original", "subject", "split", "license", "consent", "source")

_corpus_columns = [pa.field(name, pa.string()) for name in CORPUS_FIELDS]

# A video row's timeline is plausible when duration_s x fps is within this many frames, or this
# share, of frame_count (a VFR stream's average rate is frames / duration); a still has one frame
# and no duration. The probe corrects what fails it; the videos contract checks it.
TIMELINE_SLACK_FRAMES = 2
TIMELINE_SLACK_SHARE = 0.05

VIDEOS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("duplicate_uris", pa.list_(pa.string()), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("error_kind", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("container", pa.string()),
        pa.field("video_codec", pa.string()),
        pa.field("width_px", pa.int32()),
        pa.field("height_px", pa.int32()),
        pa.field("rotation_deg", pa.int16()),
        pa.field("duration_s", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("frame_count", pa.int64()),
        pa.field("has_audio", pa.bool_()),
        pa.field("is_image", pa.bool_()),
        pa.field("sampling", pa.string(), nullable=False),
        pa.field("frames_sampled", pa.int32(), nullable=False),
        pa.field("faces_found", pa.int32(), nullable=False),
        pa.field("detector", pa.string(), nullable=False),
        pa.field("detector_version", pa.string()),
        pa.field("preset", pa.string(), nullable=False),
        pa.field("detect_fingerprint", pa.string(), nullable=False),
        pa.field("align_fingerprint", pa.string(), nullable=False),
        pa.field("near_duplicate_of", pa.string()),
        pa.field("pair_mode", pa.string()),
        pa.field("pair_reason", pa.string()),
        *_corpus_columns,
    ],
    metadata={"facecorpus.manifest": "videos", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# A face's columns, split by the stage that computes them; the merge joins them
# with the video's uri and corpus fields.
DETECTION_FIELDS = [
    pa.field("face_id", pa.string(), nullable=False),
    pa.field("video_id", pa.string(), nullable=False),
    pa.field("frame_index", pa.int32(), nullable=False),
    pa.field("pts_s", pa.float64(), nullable=False),
    pa.field("frame_width_px", pa.int32(), nullable=False),
    pa.field("frame_height_px", pa.int32(), nullable=False),
    pa.field("face_index", pa.int16(), nullable=False),
    pa.field("bbox_xyxy_px", pa.list_(pa.float32(), 4), nullable=False),
    pa.field("det_score", pa.float32(), nullable=False),
    pa.field("landmarks5_px", pa.list_(pa.float32(), 10), nullable=False),
    pa.field("detector", pa.string(), nullable=False),
    pa.field("detector_version", pa.string(), nullable=False),
    pa.field("sampling", pa.string(), nullable=False),
]
CROP_FIELDS = [
    pa.field("face_id", pa.string(), nullable=False),
    pa.field("preset", pa.string(), nullable=False),
    pa.field("crop_size_px", pa.int32(), nullable=False),
    pa.field("affine_2x3", pa.list_(pa.float64(), 6), nullable=False),
    pa.field("crop_path", pa.string(), nullable=False),
    pa.field("crop_sha256", pa.string(), nullable=False),
]
# Curation (pipeline/curate/): per-face scores (the quality stage), the track of each
# face (the tracks stage), and the face's status after the filters and near-duplicate removal.
QUALITY_FIELDS = [
    pa.field("face_id", pa.string(), nullable=False),
    pa.field("face_size_px", pa.float32(), nullable=False),
    pa.field("interocular_px", pa.float32(), nullable=False),
    pa.field("sharpness", pa.float32(), nullable=False),
    pa.field("brightness", pa.float32(), nullable=False),
    pa.field("contrast", pa.float32(), nullable=False),
    pa.field("yaw_deg", pa.float32(), nullable=False),
    pa.field("pitch_deg", pa.float32(), nullable=False),
    pa.field("roll_deg", pa.float32(), nullable=False),
    pa.field("touches_border", pa.bool_(), nullable=False),
    pa.field("quality_score", pa.float32(), nullable=False),
    pa.field("crop_phash", pa.string(), nullable=False),
]
TRACK_FIELDS = [
    pa.field("face_id", pa.string(), nullable=False),
    pa.field("track_id", pa.string(), nullable=False),
    pa.field("shot_index", pa.int32(), nullable=False),
]
STATUS_FIELDS = [
    pa.field("status", pa.string(), nullable=False),
    pa.field("filter_reason", pa.string()),
    pa.field("filter_reasons", pa.list_(pa.string()), nullable=False),
    pa.field("duplicate_of", pa.string()),
]
# Curation II over the whole corpus: the face's identity (identities.parquet), the split of its
# group, and for a face of a fake video the face of its original it was made from.
GROUP_FIELDS = [
    pa.field("identity_id", pa.string()),
    pa.field("split_assigned", pa.string()),
    pa.field("original_face_id", pa.string()),
]
DETECTIONS_SCHEMA = pa.schema(DETECTION_FIELDS)
CROPS_SCHEMA = pa.schema(CROP_FIELDS)
QUALITY_SCHEMA = pa.schema(QUALITY_FIELDS)
TRACK_ASSIGNMENTS_SCHEMA = pa.schema(TRACK_FIELDS)

FACES_SCHEMA = pa.schema(
    [
        *DETECTION_FIELDS[:2],
        pa.field("uri", pa.string(), nullable=False),
        *DETECTION_FIELDS[2:],
        *CROP_FIELDS[1:],
        *TRACK_FIELDS[1:],
        *QUALITY_FIELDS[1:],
        *STATUS_FIELDS,
        *GROUP_FIELDS,
        *_corpus_columns,
    ],
    metadata={"facecorpus.manifest": "faces", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# One row per face track (pipeline/curate/dataset.py), sorted by video_id, first_pts_s, track_id.
TRACKS_SCHEMA = pa.schema(
    [
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("shot_index", pa.int32(), nullable=False),
        pa.field("first_pts_s", pa.float64(), nullable=False),
        pa.field("last_pts_s", pa.float64(), nullable=False),
        pa.field("faces", pa.int32(), nullable=False),
        pa.field("faces_kept", pa.int32(), nullable=False),
        pa.field("mean_det_score", pa.float32(), nullable=False),
        pa.field("min_det_score", pa.float32(), nullable=False),
        pa.field("median_face_size_px", pa.float32(), nullable=False),
        pa.field("best_face_id", pa.string(), nullable=False),
    ],
    metadata={"facecorpus.manifest": "tracks", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)


def embeddings_schema(dim: int) -> pa.Schema:
    """``embeddings.parquet`` (and the embed stage's per-video work): one row per embedded face
    (the best few of each track); ``embedder`` is its label and model sha256 prefix."""
    return pa.schema(
        [
            pa.field("face_id", pa.string(), nullable=False),
            pa.field("embedder", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ],
        metadata={"facecorpus.manifest": "embeddings", "facecorpus.schema_version": str(SCHEMA_VERSION)},
    )


# The identity registry (pipeline/curate/identities.py): every identity ever made, merged ones
# kept with ``alias_of`` (the id they now mean), so an id never changes meaning.
IDENTITIES_SCHEMA = pa.schema(
    [
        pa.field("identity_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("subject", pa.string()),
        pa.field("alias_of", pa.string()),
        pa.field("embedder", pa.string(), nullable=False),
        pa.field("tracks", pa.int32(), nullable=False),
        pa.field("faces", pa.int32(), nullable=False),
        pa.field("videos", pa.int32(), nullable=False),
        pa.field("centroid", pa.list_(pa.float32()), nullable=False),
    ],
    metadata={"facecorpus.manifest": "identities", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# The split registry (pipeline/curate/splits.py): one row per group key ever seen
# (``identity:<id>``, ``original:<video_id>``, ``video:<video_id>``); rows are only added.
SPLITS_SCHEMA = pa.schema(
    [
        pa.field("group_key", pa.string(), nullable=False),
        pa.field("group_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ],
    metadata={"facecorpus.manifest": "splits", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# Fake-to-original face pairs (pipeline/curate/pairs.py): one row per face of a fake video
# whose original is in the corpus and has a face at the same place of the stream.
PAIRS_SCHEMA = pa.schema(
    [
        pa.field("face_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("original_face_id", pa.string(), nullable=False),
        pa.field("original_video_id", pa.string(), nullable=False),
        pa.field("stream_time_s", pa.float64(), nullable=False),
        pa.field("time_gap_s", pa.float64(), nullable=False),
        pa.field("iou", pa.float32(), nullable=False),
        pa.field("mirrored", pa.bool_(), nullable=False),
        pa.field("split_assigned", pa.string()),
        pa.field("paired_by", pa.string(), nullable=False),
        pa.field("mask_path", pa.string()),
        pa.field("mask_mean_diff", pa.float32()),
        pa.field("mask_changed_share", pa.float32()),
    ],
    metadata={"facecorpus.manifest": "pairs", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# The frame signatures stage (pipeline/stages/frames.py): one row per sampled frame,
# for scene-cut detection (colour histogram) and near-duplicate videos (perceptual hash).
FRAMES_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("frame_index", pa.int32(), nullable=False),
        pa.field("pts_s", pa.float64(), nullable=False),
        pa.field("frame_phash", pa.string(), nullable=False),
        pa.field("hist_hsv", pa.list_(pa.float32(), math.prod(HSV_HIST_BINS)), nullable=False),
    ],
    metadata={"facecorpus.manifest": "frames", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# The training view (``facecorpus select``): the selected faces' rows of faces.parquet
# plus their rank in their track (0 = the best selected).
SELECTION_SCHEMA = pa.schema(
    [*FACES_SCHEMA, pa.field("rank_in_track", pa.int32(), nullable=False)],
    metadata={"facecorpus.manifest": "selection", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# Release packing (pipeline/release/pack.py): crops packed into WebDataset tar shards.
SHARD_INDEX_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.string(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
    ],
    metadata={"facecorpus.manifest": "shard_index", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)
CROP_LOCATIONS_SCHEMA = pa.schema(
    [
        pa.field("face_id", pa.string(), nullable=False),
        pa.field("crop_sha256", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),
        pa.field("member", pa.string(), nullable=False),
        pa.field("offset_bytes", pa.int64(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
    ],
    metadata={"facecorpus.manifest": "crop_locations", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# The append-only erasure log (``facecorpus forget``; params.yaml ``policy.erasures``, git-tracked):
# one row per erasure; ids and content hashes only, no face data. Ingestion denies what it names.
ERASURE_TARGETS = ("video", "uri", "subject", "identity")
ERASURES_SCHEMA = pa.schema(
    [
        pa.field("erasure_id", pa.string(), nullable=False),
        pa.field("erased_at", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("target_kind", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("scope", pa.string(), nullable=False),
        pa.field("video_ids", pa.list_(pa.string()), nullable=False),
        pa.field("face_ids", pa.list_(pa.string()), nullable=False),
        pa.field("crop_sha256", pa.list_(pa.string()), nullable=False),
        pa.field("shard_md5", pa.list_(pa.string()), nullable=False),
        pa.field("replaced_by", pa.list_(pa.string()), nullable=False),
    ],
    metadata={"facecorpus.manifest": "erasures", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)

# The DVC snapshot stage's probe table (pipeline/runs/snapshot.py): one row per distinct input.
PROBE_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("container", pa.string()),
        pa.field("video_codec", pa.string()),
        pa.field("width_px", pa.int32()),
        pa.field("height_px", pa.int32()),
        pa.field("rotation_deg", pa.int16()),
        pa.field("duration_s", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("is_image", pa.bool_()),
    ],
    metadata={"facecorpus.manifest": "probe", "facecorpus.schema_version": str(SCHEMA_VERSION)},
)
