"""After an erasure, the identity registry (its centroids and subject names) and the split
registry lose the identities that only erased faces carried, with the aliases pointing to
them; an identity that kept a face stays; the tables stay one published unit."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.fsutil import check_published, publish_tables, table_bytes
from pipeline.privacy.registry import drop_identities, erased_identities
from schemas.manifests import FACES_MANIFEST, IDENTITIES_MANIFEST, IDENTITIES_SCHEMA, SPLITS_MANIFEST, SPLITS_SCHEMA


def _identity(identity_id: str, alias_of: str | None = None, subject: str | None = None) -> dict:
    return {
        "identity_id": identity_id,
        "source": "subject" if subject else "cluster",
        "subject": subject,
        "alias_of": alias_of,
        "embedder": "dlib-resnet",
        "tracks": 1,
        "faces": 1,
        "videos": 1,
        "centroid": [0.5, -0.25],
    }


def _publish(out) -> None:
    faces = pa.table({"face_id": ["f1", "f2", "f3", "f4"], "identity_id": ["alice", "bob", "bob", None]})
    identities = pa.Table.from_pylist(
        [_identity("alice", subject="Alice"), _identity("bob"), _identity("old-alice", alias_of="alice"), _identity("carol")],
        schema=IDENTITIES_SCHEMA,
    )
    splits = pa.Table.from_pylist(
        [
            {"group_key": key, "group_id": key, "split": "train", "source": "hash"}
            for key in ("identity:alice", "identity:bob", "identity:carol", "video:v1")
        ],
        schema=SPLITS_SCHEMA,
    )
    publish_tables(
        out, {FACES_MANIFEST: table_bytes(faces), IDENTITIES_MANIFEST: table_bytes(identities), SPLITS_MANIFEST: table_bytes(splits)}
    )


def test_an_identity_only_erased_faces_carried_leaves_both_registries(tmp_path):
    _publish(tmp_path)
    gone = erased_identities(tmp_path, frozenset({"f1", "f2"}))  # bob keeps f3; f4 has no identity
    assert gone == {"alice"}
    assert drop_identities(tmp_path, gone) == 2
    identities = pq.read_table(tmp_path / IDENTITIES_MANIFEST)
    assert identities.column("identity_id").to_pylist() == ["bob", "carol"]  # the alias of alice went too
    assert "Alice" not in identities.column("subject").to_pylist()
    assert identities.schema.names == IDENTITIES_SCHEMA.names and identities.schema.metadata == IDENTITIES_SCHEMA.metadata  # as written
    assert pq.read_table(tmp_path / SPLITS_MANIFEST).column("group_key").to_pylist() == ["identity:bob", "identity:carol", "video:v1"]
    check_published(tmp_path, [FACES_MANIFEST, IDENTITIES_MANIFEST, SPLITS_MANIFEST])  # still one unit


def test_nothing_to_drop_rewrites_nothing(tmp_path):
    _publish(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert erased_identities(tmp_path, frozenset({"f3"})) == frozenset()  # bob keeps f2
    assert drop_identities(tmp_path, frozenset()) == 0
    assert drop_identities(tmp_path, frozenset({"nobody"})) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
