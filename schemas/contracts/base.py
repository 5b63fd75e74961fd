"""The building blocks of the data contracts: named checks with a severity.

A check is one Great Expectations 1.x expectation plus a stable name
(``suite.what``) and a severity. ``error`` checks block a release, ``warning``
checks are reported only (GX's own ``severity`` field says ``critical`` or
``warning``). The name, severity and a one-line statement travel inside the
expectation (``meta``, ``severity``, ``description``), so they show in GX's JSON
results and in Data Docs.

Batches hold the manifest's own columns as Arrow-backed pandas columns (so the
type checks see the Arrow types) followed by computed check columns named
``chk_*`` (numpy-backed: GX's pandas row conditions are vectorised only for
numpy dtypes and break on pandas' NA in Arrow-backed columns). Row-level
comparisons therefore run on ``chk_*`` columns.
"""

from __future__ import annotations

import enum
import html
from dataclasses import dataclass

import great_expectations.expectations as gxe
import pandas as pd
import pyarrow as pa
from great_expectations.expectations.metadata_types import FailureSeverity

CHECK_PREFIX = "chk_"


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"

    @property
    def gx(self) -> FailureSeverity:
        return FailureSeverity.CRITICAL if self is Severity.ERROR else FailureSeverity.WARNING

    @classmethod
    def of(cls, severity: FailureSeverity | str | None) -> Severity:
        """The gate's severity from GX's own ``severity`` field: critical -> error, warning ->
        warning; GX's ``info`` (never set here) and an absent field count as errors (fail closed)."""
        return cls.WARNING if FailureSeverity(severity or FailureSeverity.CRITICAL) is FailureSeverity.WARNING else cls.ERROR


@dataclass(frozen=True)
class Check:
    name: str
    severity: Severity
    expectation: gxe.Expectation


def check(name: str, severity: Severity, statement: str, expectation: gxe.Expectation) -> Check:
    """Stamp ``expectation`` with the check's name, severity and statement."""
    expectation.meta = {"check": name, "statement": statement}
    expectation.severity = severity.gx  # the gate reads this, GX's own field (Severity.of)
    # Data Docs put the description into the page unescaped (types read list<float>).
    expectation.description = html.escape(f"{name} ({severity.value}-level): {statement}", quote=False)
    return Check(name, severity, expectation)


def error(name: str, statement: str, expectation: gxe.Expectation) -> Check:
    return check(name, Severity.ERROR, statement, expectation)


def warning(name: str, statement: str, expectation: gxe.Expectation) -> Check:
    return check(name, Severity.WARNING, statement, expectation)


def arrow_type_text(data_type: pa.DataType) -> str:
    """The type as text, list item names left out: Parquet renames ``item`` to
    ``element`` on the way through, and the name carries no meaning."""
    if pa.types.is_fixed_size_list(data_type):
        return f"fixed_size_list<{arrow_type_text(data_type.value_type)}>[{data_type.list_size}]"
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        kind = "large_list" if pa.types.is_large_list(data_type) else "list"
        return f"{kind}<{arrow_type_text(data_type.value_type)}>"
    return str(data_type)


class ExpectColumnArrowTypeToBe(gxe.ExpectColumnTypeToBe):
    """The column's Arrow type equals ``type_`` (as :func:`arrow_type_text` writes it).

    GX's own type expectation parses the name with pandas, which cannot name
    nested Arrow types such as ``fixed_size_list<float>[4]``.
    """

    def _validate_pandas(self, actual_column_type, expected_type):
        if isinstance(actual_column_type, pd.ArrowDtype):
            observed = arrow_type_text(actual_column_type.pyarrow_dtype)
        else:
            observed = f"not Arrow-backed: {actual_column_type}"
        return {"success": observed == expected_type, "result": {"observed_value": observed}}


def is_floating(data_type: pa.DataType) -> bool:
    """Floating point, or a list of it: values that can be NaN or infinite."""
    if pa.types.is_fixed_size_list(data_type) or pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return is_floating(data_type.value_type)
    return pa.types.is_floating(data_type)


def finite_column(name: str) -> str:
    return f"{CHECK_PREFIX}finite_{name}"


def finite_columns(schema: pa.Schema) -> tuple[str, ...]:
    return tuple(finite_column(f.name) for f in schema if is_floating(f.type))


def schema_checks(suite: str, schema: pa.Schema, computed: tuple[str, ...]) -> list[Check]:
    """Column list, Arrow types, non-null and finiteness: all derived from ``schema``,
    so a column added to the schema is covered without touching the contract."""
    checks = [
        error(
            f"{suite}.columns",
            f"the columns are the {suite} schema's, in order, then the computed check columns",
            gxe.ExpectTableColumnsToMatchOrderedList(column_list=[*schema.names, *computed]),
        )
    ]
    for field in schema:
        expected = arrow_type_text(field.type)
        checks.append(
            error(f"{suite}.type.{field.name}", f"{field.name} is {expected}", ExpectColumnArrowTypeToBe(column=field.name, type_=expected))
        )
        if not field.nullable:
            checks.append(
                error(f"{suite}.not_null.{field.name}", f"{field.name} is never null", gxe.ExpectColumnValuesToNotBeNull(column=field.name))
            )
        if is_floating(field.type):
            checks.append(
                error(
                    f"{suite}.finite.{field.name}",
                    f"{field.name} holds no NaN or infinity",
                    gxe.ExpectColumnValuesToBeInSet(column=finite_column(field.name), value_set=[True]),
                )
            )
    return checks


def suite_computed(schema: pa.Schema, own: tuple[str, ...]) -> tuple[str, ...]:
    """Every computed column a suite's batch carries: finiteness flags first, then the suite's own."""
    return (*finite_columns(schema), *own)
