"""Arrow columns as the contracts' computed columns need them: float arrays, NaN-safe.

Every reader tolerates a missing column or a wrong type (it returns nulls), so a
broken manifest is reported by the contract's column and type checks instead of
stopping the computation.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from schemas.contracts.base import finite_column, is_floating


def with_computed(table: pa.Table, computed: dict[str, pa.Array | np.ndarray], order: tuple[str, ...]) -> pa.Table:
    for name in order:
        table = table.append_column(name, _arrow(computed[name]))
    return table


def _arrow(values: pa.Array | pa.ChunkedArray | np.ndarray | pl.Series) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pl.Series):
        return values.to_arrow()
    return values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)


def _column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    return table[name] if name in table.column_names else None


def float_vector(table: pa.Table, name: str) -> np.ndarray:
    """The column as float64, NaN for nulls and non-finite values; all NaN when missing or not numeric."""
    column = _column(table, name)
    if column is None or not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return np.full(table.num_rows, np.nan)
    return _finite_or_nan(column.cast(pa.float64()).to_numpy(zero_copy_only=False))


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def float_matrix(table: pa.Table, name: str, width: int) -> np.ndarray:
    """A fixed-size list column as an (n, width) float64 array, NaN for nulls and
    non-finite values; all NaN when missing or of another shape."""
    column = _column(table, name)
    if column is None or not pa.types.is_fixed_size_list(column.type) or column.type.list_size != width:
        return np.full((table.num_rows, width), np.nan)
    if not pa.types.is_integer(column.type.value_type) and not pa.types.is_floating(column.type.value_type):
        return np.full((table.num_rows, width), np.nan)
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    start = array.offset * width
    values = array.values.slice(start, len(array) * width).cast(pa.float64()).to_numpy(zero_copy_only=False)
    matrix = _finite_or_nan(values.reshape(len(array), width))
    matrix[array.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return matrix


def object_column(table: pa.Table, name: str) -> pa.Array:
    """A string column as is (pandas gets a plain object column), all null when missing."""
    column = _column(table, name)
    if column is None or not pa.types.is_string(column.type):
        return pa.nulls(table.num_rows, pa.string())
    return column.combine_chunks()


def finite_flags(table: pa.Table, schema: pa.Schema) -> dict[str, np.ndarray]:
    """For each floating column of ``schema``: True where the value (every list item)
    is finite or the whole value is null (nulls are the non-null check's business)."""
    return {finite_column(f.name): _finite(_column(table, f.name), table.num_rows) for f in schema if is_floating(f.type)}


def _finite(column: pa.ChunkedArray | None, rows: int) -> np.ndarray:
    if column is None or not is_floating(column.type):
        return np.ones(rows, dtype=bool)
    if pa.types.is_floating(column.type):
        return pc.fill_null(pc.is_finite(column), True).to_numpy()
    array = column.combine_chunks()
    items_ok = pc.fill_null(pc.is_finite(pc.list_flatten(array)), False).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(array).to_numpy()
    return np.bincount(parents[~items_ok], minlength=rows) == 0
