"""Storage types: what each schema type is in pandas, in the Parquet file, and in DuckDB.

One table, so ingest writes exactly the type the policy engine checks queries
against; a column's stored type is `ColumnSpec.stored_type`, derived from its method.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from catalog.schema import DatasetSchema


@dataclass(frozen=True)
class StorageType:
    pandas: object  # the dtype desensitized frames hold the column in
    arrow: pa.DataType  # the Parquet column's type, written explicitly at ingest
    duckdb: str  # what DuckDB reads the Parquet column as


# Dates are Arrow date32 so the Parquet column is a DATE, not a midnight timestamp.
STORAGE: dict[str, StorageType] = {
    "string": StorageType("string", pa.string(), "VARCHAR"),
    "integer": StorageType("Int64", pa.int64(), "BIGINT"),
    "double": StorageType("float64", pa.float64(), "DOUBLE"),
    "date": StorageType(pd.ArrowDtype(pa.date32()), pa.date32(), "DATE"),
    "timestamp": StorageType("datetime64[us]", pa.timestamp("us"), "TIMESTAMP"),
    "boolean": StorageType("boolean", pa.bool_(), "BOOLEAN"),
}
DUCKDB_TYPES: dict[str, str] = {name: kind.duckdb for name, kind in STORAGE.items()}


def pandas_dtype(column_type: str) -> object:
    """The pandas dtype a column of this schema type is held in."""
    return STORAGE[column_type].pandas


def arrow_schema(schema: DatasetSchema) -> pa.Schema:
    """The Parquet schema of a dataset's store: its stored columns, in order, as stored."""
    return pa.schema(
        [pa.field(c.name, STORAGE[c.stored_type].arrow) for c in schema.stored_columns]
    )


def duckdb_types(schema: DatasetSchema) -> dict[str, str]:
    """Stored column name → DuckDB type, the mapping sqlglot qualifies and annotates with."""
    return {c.name: STORAGE[c.stored_type].duckdb for c in schema.stored_columns}
