"""The identity and split registries after an erasure. ``identities.parquet`` keeps each
identity's centroid (a mean face embedding) and subject name across runs, and
``splits.parquet`` its group key: an identity whose every face was erased must leave both,
or the next run would recognise the person again under the erased id (forget, issue 15 x 14).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.fsutil import Publication, table_bytes
from schemas.manifests import FACES_MANIFEST, IDENTITIES_MANIFEST, SPLITS_MANIFEST


def erased_identities(out: Path, face_ids: frozenset[str]) -> frozenset[str]:
    """The identities that only erased faces carry (read before the faces are scrubbed)."""
    faces = Path(out) / FACES_MANIFEST
    if not face_ids or not faces.is_file():
        return frozenset()
    table = pl.read_parquet(faces)
    if "identity_id" not in table.columns:
        return frozenset()
    erased = table["face_id"].is_in(sorted(face_ids))
    gone = set(table.filter(erased)["identity_id"].drop_nulls())
    return frozenset(gone - set(table.filter(~erased)["identity_id"].drop_nulls()))


def drop_identities(out: Path, identities: frozenset[str]) -> int:
    """Remove ``identities`` (and the aliases that point to them) from the identity registry and
    their groups from the split registry; the number of tables rewritten."""
    if not identities:
        return 0
    ids = pa.array(sorted(identities), pa.string())
    keys = pa.array(sorted(f"identity:{i}" for i in identities), pa.string())
    changed = 0
    with Publication(Path(out)) as publication:  # the folder's tables stay one unit (manifests.json)
        for name, columns, values in ((IDENTITIES_MANIFEST, ("identity_id", "alias_of"), ids), (SPLITS_MANIFEST, ("group_key",), keys)):
            path = Path(out) / name
            if not path.is_file():
                continue
            table = pq.read_table(path)  # as written: its schema and metadata kept
            hit = pa.array([False] * table.num_rows, pa.bool_())  # typed: an empty table's mask is no null array
            for column in columns:
                hit = pc.or_(hit, pc.fill_null(pc.is_in(table[column], value_set=values), False))
            if pc.any(hit).as_py():
                publication.write(name, table_bytes(table.filter(pc.invert(hit))))
                changed += 1
    return changed
