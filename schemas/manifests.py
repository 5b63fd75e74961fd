"""Arrow schemas of the dataset manifests. ARCHITECTURE.md documents each column.

Units are in the names: ``_px`` pixels of the upright full-resolution frame
(origin top-left), ``_s`` seconds of the source's presentation timeline,
``_deg`` degrees. Fixed-size lists are row-major.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 2

# File names of the manifests in a dataset folder (and a release folder).
VIDEOS_MANIFEST = "videos.parquet"
FACES_MANIFEST = "faces.parquet"
SHARD_INDEX = "shard_index.parquet"
CROP_LOCATIONS = "crop_locations.parquet"

CORPUS_FIELDS = ("label", "original", "subject", "split", "license", "consent", "source")

_corpus_columns = [pa.field(name, pa.string()) for name in CORPUS_FIELDS]

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
DETECTIONS_SCHEMA = pa.schema(DETECTION_FIELDS)
CROPS_SCHEMA = pa.schema(CROP_FIELDS)

FACES_SCHEMA = pa.schema(
    [
        *DETECTION_FIELDS[:2],
        pa.field("uri", pa.string(), nullable=False),
        *DETECTION_FIELDS[2:],
        *CROP_FIELDS[1:],
        *_corpus_columns,
    ],
    metadata={"facecorpus.manifest": "faces", "facecorpus.schema_version": str(SCHEMA_VERSION)},
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

# Per-face measures (pipeline/stages/measures.py): the DVC align stage's distributions.
MEASURES_SCHEMA = pa.schema(
    [
        pa.field("face_id", pa.string(), nullable=False),
        pa.field("face_size_px", pa.float64(), nullable=False),
        pa.field("det_score", pa.float64(), nullable=False),
        pa.field("yaw_proxy", pa.float64(), nullable=False),
        pa.field("sharpness", pa.float64(), nullable=False),
    ],
    metadata={"facecorpus.manifest": "measures", "facecorpus.schema_version": str(SCHEMA_VERSION)},
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
