"""Dataset schemas (资源登记): a level and role for every column, validated strictly.

A schema is the contract for ingest; it is refused whole if any column lacks a
level, names an unknown role or method, or leaves an identifier unprotected.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import SchemaInvalid
from core.levels import Level, Role

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TYPES = {"string", "integer", "double", "date", "timestamp", "boolean"}
NUMERIC = {"integer", "double"}
PROTECTED_IDENTIFIER_METHODS = {"pseudonymize", "drop", "mask"}
METHOD = re.compile(
    r"^(keep|drop|pseudonymize|mask|generalize:(year|month|prefix:\d+|bucket:[\d.]+)|noise:[\d.]+)$"
)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    level: Level
    role: Role
    desensitize: str = "keep"
    bounds: tuple[float, float] | None = None
    title: str | None = None
    # a public code list (公开代码表): every value the column may take, published, so a
    # group keyed by it may be shown even when its figures are suppressed
    categories: tuple[str, ...] | None = None
    # the declared share of missing values, if the authority publishes it; synthetic
    # twins blank this share of the column (never read from the data itself)
    null_rate: float | None = None

    @property
    def stored(self) -> bool:
        """Whether the column reaches the domain store at all (L4 and dropped never do)."""
        return self.level is not Level.L4 and self.desensitize != "drop"

    @property
    def stored_type(self) -> str:
        """The column's type after desensitization, as sandboxes see it."""
        return stored_type_of(self.type, self.desensitize)


def stored_type_of(column_type: str, method: str) -> str:
    """The type a column of `column_type` has in the domain store after `method`.

    Derived, never declared, so the store, the policy engine's type check and the
    catalog's description cannot disagree. Generalized dates stay DATEs (1 January,
    the first of the month) so date functions keep working on them.
    """
    kind, _, argument = method.partition(":")
    if kind in ("pseudonymize", "mask"):
        return "string"
    if kind == "noise":
        return "double"
    if kind != "generalize":
        return column_type
    granularity, _, width = argument.partition(":")
    if granularity in ("year", "month"):
        return "date"
    if granularity == "prefix":
        return "string"
    return "integer" if column_type == "integer" and _whole(width) else "double"


def _whole(number: str) -> bool:
    """Whether a bucket width keeps integers integral (100 does, 2.5 does not)."""
    try:
        return float(number).is_integer()
    except ValueError:
        return False


@dataclass(frozen=True)
class DatasetSchema:
    dataset: str
    title: str
    owner: str
    privacy_unit: str
    columns: tuple[ColumnSpec, ...]
    contribution_limit: int = 1
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # a fact about the stored data, never declared: each privacy unit has at most one
    # row (counted at ingest, catalog.ingest); lets the rewrite skip per-unit bounding
    one_row_per_unit: bool = False
    # a fact about the stored file: ingest wrote each row's unit digest beside it
    # (catalog.unit_digests), so the core lists those instead of hashing every unit
    unit_digests: bool = False
    # a fact about the stored file: ingest also wrote each digest's check value, so the
    # core XORs those into the population sketches instead of computing them
    unit_checks: bool = False

    def column(self, name: str) -> ColumnSpec | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name == lowered), None)

    @property
    def stored_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.stored]

    @property
    def max_level(self) -> Level:
        return max((c.level for c in self.columns), key=lambda lv: lv.rank)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data.pop("one_row_per_unit")  # proven from the data, not part of the contract
        data.pop("unit_digests")  # how the file is stored, not part of the contract
        data.pop("unit_checks")
        data["columns"] = [
            {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(c).items()
                if not (k == "null_rate" and v is None)  # undeclared: as before the key existed
            }
            for c in self.columns
        ]
        return data


def _column(raw: Any, index: int) -> ColumnSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise SchemaInvalid.coded("schema_column_unnamed", number=index + 1)
    name = str(raw["name"])
    if not NAME.match(name):
        raise SchemaInvalid.coded("schema_column_name", name=name)
    if "level" not in raw:
        raise SchemaInvalid.coded("schema_column_no_level", name=name)
    try:
        level = Level(str(raw["level"]).upper())
    except ValueError:
        raise SchemaInvalid.coded("schema_column_level", name=name, level=raw["level"]) from None
    try:
        role = Role(str(raw.get("role", "attribute")))
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise SchemaInvalid.coded(
            "schema_column_role", name=name, role=raw["role"], roles=roles
        ) from None
    ctype = str(raw.get("type", "string"))
    if ctype not in TYPES:
        raise SchemaInvalid.coded("schema_column_type", name=name, type=ctype, types=sorted(TYPES))
    default = "pseudonymize" if role is Role.IDENTIFIER else "keep"
    method = str(raw.get("desensitize", default))
    if not METHOD.match(method):
        raise SchemaInvalid.coded("schema_column_method", name=name, method=method)
    if role is Role.IDENTIFIER and method not in PROTECTED_IDENTIFIER_METHODS:
        raise SchemaInvalid.coded("schema_identifier_method", name=name, method=method)
    bounds = raw.get("bounds")
    if role is Role.MEASURE:
        if ctype not in NUMERIC:
            raise SchemaInvalid.coded("schema_measure_type", name=name, type=ctype)
        if not (isinstance(bounds, list | tuple) and len(bounds) == 2):
            raise SchemaInvalid.coded("schema_measure_no_bounds", name=name)
        lo, hi = float(bounds[0]), float(bounds[1])
        if not lo < hi:
            raise SchemaInvalid.coded("schema_measure_bounds", name=name, bounds=bounds)
        bounds = (lo, hi)
    elif bounds is not None:
        raise SchemaInvalid.coded("schema_bounds_not_measure", name=name)
    categories = _categories(raw, name, level, role)
    null_rate = _null_rate(raw, name, role)
    return ColumnSpec(
        name, ctype, level, role, method, bounds, raw.get("title"), categories, null_rate
    )


def _null_rate(raw: dict[str, Any], name: str, role: Role) -> float | None:
    """A declared share of missing values: a number from 0 up to (not including) 1."""
    value = raw.get("null_rate")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise SchemaInvalid.coded("schema_null_rate", name=name, value=value)
    if role is Role.IDENTIFIER:
        raise SchemaInvalid.coded("schema_identifier_null_rate", name=name)
    return float(value)


def _categories(raw: dict[str, Any], name: str, level: Level, role: Role) -> tuple[str, ...] | None:
    """A declared public code list: only on an L1 dimension, a non-empty list of texts."""
    values = raw.get("categories")
    if values is None:
        return None
    if level is not Level.L1 or role is not Role.DIMENSION:
        raise SchemaInvalid.coded("schema_categories_not_l1", name=name)
    if not isinstance(values, list) or not values:
        raise SchemaInvalid.coded("schema_categories_not_list", name=name)
    return tuple(str(v) for v in values)


def parse_schema(raw: Any) -> DatasetSchema:
    """Validate a schema document (already parsed from YAML) into a DatasetSchema."""
    if not isinstance(raw, dict):
        raise SchemaInvalid.coded("schema_not_mapping")
    for key in ("dataset", "columns", "privacy_unit"):
        if key not in raw:
            raise SchemaInvalid.coded("schema_key_missing", key=key)
    dataset = str(raw["dataset"])
    if not NAME.match(dataset):
        raise SchemaInvalid.coded("schema_dataset_name", name=dataset)
    if not isinstance(raw["columns"], list) or not raw["columns"]:
        raise SchemaInvalid.coded("schema_no_columns")
    columns = tuple(_column(c, i) for i, c in enumerate(raw["columns"]))
    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SchemaInvalid.coded("schema_columns_twice", columns=duplicates)
    unit = str(raw["privacy_unit"])
    unit_column = next((c for c in columns if c.name == unit), None)
    if unit_column is None or not unit_column.stored or unit_column.desensitize == "mask":
        raise SchemaInvalid.coded("schema_privacy_unit", unit=unit)
    limit = int(raw.get("contribution_limit", 1))
    if limit < 1:
        raise SchemaInvalid.coded("schema_contribution_limit")
    return DatasetSchema(
        dataset=dataset,
        title=str(raw.get("title", dataset)),
        owner=str(raw.get("owner", "")),
        privacy_unit=unit,
        columns=columns,
        contribution_limit=limit,
        description=str(raw.get("description", "")),
    )


def load_schema(path: Path) -> DatasetSchema:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaInvalid.coded("schema_file_missing", path=str(path)) from None
    return schema_from_text(text, path)


def schema_from_text(text: str, source: Path | str | None = None) -> DatasetSchema:
    """A schema from YAML text: a file's (`source` its path), one uploaded (`source` the
    uploaded file's name) or one pasted (no source); the source is named in errors."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if isinstance(source, Path):
            raise SchemaInvalid.coded(
                "schema_file_yaml", path=str(source), detail=str(exc)
            ) from None
        if source is not None:
            raise SchemaInvalid.coded("schema_upload_yaml", name=source, detail=str(exc)) from None
        raise SchemaInvalid.coded("schema_yaml", detail=str(exc)) from None
    return parse_schema(raw)
