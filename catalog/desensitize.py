"""Desensitization (脱敏): turning a typed raw frame into what the domain store holds.

Only stored columns survive (L4 and `drop` never do), each transformed by its
schema method and cast to the pandas dtype of its `ColumnSpec.stored_type`.
"""

from __future__ import annotations

import binascii
import hmac
import secrets
from collections.abc import Mapping
from functools import lru_cache
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from catalog.keyed_hash import KeyedHash
from catalog.schema import ColumnSpec, DatasetSchema
from catalog.storage import pandas_dtype
from core.errors import SchemaInvalid

# text values in Arrow, in one piece or in the chunks a reader made
Texts: TypeAlias = pa.LargeStringArray | pa.ChunkedArray
LAST_SPACE = 0x3000  # the highest code point Python's str.strip() removes
PSEUDONYM_HEX_CHARS = 32
PSEUDONYM_BYTES = PSEUDONYM_HEX_CHARS // 2
MASK_CHAR = "*"
TEMPORAL = {"date", "timestamp"}
NUMERIC = {"integer", "double"}
# generalize:year|month keep a date: the first day of the period it falls in
PERIODS = {"year": "Y", "month": "M"}


def desensitize(
    frame: pd.DataFrame,
    schema: DatasetSchema,
    key: bytes,
    given: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Return the stored columns of `frame`, in schema order, each desensitized by its method.
    Columns in `given` were desensitized by the caller (ingest pseudonymizes an
    identifier in the same pass as it indexes it) and are taken as they are."""
    missing = [c.name for c in schema.stored_columns if c.name not in frame.columns]
    if missing:
        raise SchemaInvalid.coded(
            "schema_frame_lacks_columns", columns=missing, dataset=schema.dataset
        )
    done = given or {}
    out = {
        c.name: done[c.name] if c.name in done else _apply(frame[c.name], c, key)
        for c in schema.stored_columns
    }
    return pd.DataFrame(out, index=frame.index)


def _apply(series: pd.Series, spec: ColumnSpec, key: bytes) -> pd.Series:
    method, _, argument = spec.desensitize.partition(":")
    if method == "keep":
        result = series
    elif method == "pseudonymize":
        result = pseudonymize(series, key)
    elif method == "mask":
        result = mask(series)
    elif method == "generalize":
        result = _generalize(series, spec, argument)
    elif method == "noise":
        _require(spec, NUMERIC)
        result = add_laplace_noise(series, _positive(spec, argument))
    else:  # parse_schema admits no other method; this guards hand-built specs
        raise SchemaInvalid.coded("schema_method_unknown", name=spec.name, method=spec.desensitize)
    return result.astype(pandas_dtype(spec.stored_type))


def _require(spec: ColumnSpec, types: set[str]) -> None:
    if spec.type not in types:
        raise SchemaInvalid.coded(
            "schema_method_type",
            name=spec.name,
            type=spec.type,
            method=spec.desensitize,
            types=sorted(types),
        )


def _generalize(series: pd.Series, spec: ColumnSpec, argument: str) -> pd.Series:
    kind, _, width = argument.partition(":")
    if kind in PERIODS:
        _require(spec, TEMPORAL)
        return pd.to_datetime(series).dt.to_period(PERIODS[kind]).dt.start_time
    if kind == "prefix":
        return _as_text(series).str.slice(0, int(width))
    _require(spec, NUMERIC)
    return bucket(series, _positive(spec, width))


def _positive(spec: ColumnSpec, text: str) -> float:
    """A bucket width or noise scale: the schema pattern admits '0' and '1.2.3', we do not."""
    try:
        number = float(text)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise SchemaInvalid.coded("schema_method_width", name=spec.name, method=spec.desensitize)
    return number


def _as_text(series: pd.Series) -> pd.Series:
    """Values as strings, nulls kept null; integers print without a trailing '.0'."""
    if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
        numbers = pd.to_numeric(series)
        whole = numbers.dropna()
        if (whole % 1 == 0).all():
            return numbers.astype("Int64").astype("string")
    return series.astype("string")


def pseudonymize(series: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 of the trimmed text, truncated: stable within the domain, so joins work.

    Values are trimmed first so that ' 9133…' and '9133…' in two files still join.
    Hashing runs once per distinct value, with the key's HMAC states prepared once
    (the same digests as `pseudonym`); 128 bits keep collisions out of reach.
    """
    codes, texts = distinct_texts(series)
    digests = KeyedHash(key).digests(texts, PSEUDONYM_BYTES)
    return pseudonym_series(codes, digests, series.index)


def distinct_texts(series: pd.Series) -> tuple[np.ndarray, pa.LargeStringArray]:
    """Each row's code (-1 for null) into the column's distinct values, and those values
    as the trimmed text a pseudonym hashes, in Arrow (no Python string per value)."""
    codes, distinct = pd.factorize(_as_text(series))
    return codes, python_stripped(pa.array(distinct.array, type=pa.large_string()))


def python_stripped(texts: Texts) -> Texts:
    """`str.strip()` of every value: only values that start or end with what Python
    counts as whitespace (U+001F and U+3000 among them, unlike Arrow's own trim) go
    through Python, so pseudonyms stay the values they always were. Values are first
    screened by their first and last byte (`_edge_candidates`), so text with no space
    at an edge, the usual identifier, costs no regular expression."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    candidates = np.concatenate([np.zeros(0, bool), *(_edge_candidates(c) for c in chunks)])
    if not candidates.any():
        return texts
    where = np.flatnonzero(candidates)
    edges = pc.match_substring_regex(texts.take(where), pattern=_edge_whitespace())
    where = where[pc.fill_null(edges, False).to_numpy(zero_copy_only=False)]
    if not where.size:
        return texts
    trimmed = [text.strip() for text in texts.take(where).to_pylist()]
    mask = np.zeros(len(texts), dtype=bool)
    mask[where] = True
    whole = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    return pc.replace_with_mask(whole, mask, pa.array(trimmed, type=pa.large_string()))


def _edge_candidates(texts: pa.LargeStringArray) -> np.ndarray:
    """Which values might start or end with whitespace: a first byte that begins, or a
    last byte that ends, the UTF-8 of some character `str.isspace` takes. A superset of
    the true answer (张三 ends in a byte U+2000's text ends in too), never a subset."""
    if texts.null_count:  # a null's offsets may point anywhere: let the regex decide
        return np.ones(len(texts), dtype=bool)
    first_bytes, last_bytes = _space_edge_bytes()
    _, offsets, data = texts.buffers()
    at = np.frombuffer(offsets, dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    body = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    starts, ends = at[:-1], at[1:]
    filled = ends > starts
    candidates = np.zeros(len(texts), dtype=bool)
    candidates[filled] = first_bytes[body[starts[filled]]] | last_bytes[body[ends[filled] - 1]]
    return candidates


@lru_cache(maxsize=1)
def _space_edge_bytes() -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables by byte value: the first and the last bytes of the UTF-8 encodings
    of every character Python's `str.strip()` removes."""
    first_bytes, last_bytes = np.zeros(256, dtype=bool), np.zeros(256, dtype=bool)
    for code in range(LAST_SPACE + 1):
        if chr(code).isspace():
            encoded = chr(code).encode("utf-8")
            first_bytes[encoded[0]] = last_bytes[encoded[-1]] = True
    return first_bytes, last_bytes


@lru_cache(maxsize=1)
def _edge_whitespace() -> str:
    """An RE2 pattern for a text starting or ending with a character `str.isspace` takes
    (none lies above U+3000, IDEOGRAPHIC SPACE; a test checks the whole range)."""
    spaces = "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(LAST_SPACE + 1)) if c.isspace())
    return f"^[{spaces}]|[{spaces}]$"


def row_texts(series: pd.Series) -> tuple[np.ndarray | None, Texts]:
    """Which rows hold a value (None: every row does), and those values' trimmed text
    in row order, in Arrow, in the chunks the reader made (joining them would copy
    every text): for hashing every row without first finding its distinct values,
    which costs about as much as hashing them (catalog.identifiers)."""
    text = pa.array(_as_text(series).array, type=pa.large_string())
    present = None
    if text.null_count:
        valid = text.is_valid()
        present = valid.to_numpy(zero_copy_only=False)
        text = text.filter(valid)
    return present, python_stripped(text)


def pseudonym_series(codes: np.ndarray | None, digests: bytes, index: pd.Index) -> pd.Series:
    """Pseudonyms by row from truncated digests (joined, in code order; with no `codes`,
    one per row in row order): the hex text is made in one call and taken by code in
    Arrow, with no Python string per row."""
    count = len(digests) // PSEUDONYM_BYTES
    text = binascii.hexlify(digests)
    offsets = np.arange(0, (count + 1) * PSEUDONYM_HEX_CHARS, PSEUDONYM_HEX_CHARS, dtype=np.int64)
    names = pa.Array.from_buffers(
        pa.large_string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    rows = names if codes is None else names.take(pa.array(codes, mask=codes < 0))
    text_rows = pd.arrays.ArrowStringArray(rows.cast(pa.string()))
    return pd.Series(text_rows, index=index, dtype="string")


def pseudonym(value: str, key: bytes) -> str:
    """The pseudonym of one already-normalised value."""
    digest = hmac.digest(key, value.encode("utf-8"), "sha256")
    return digest.hex()[:PSEUDONYM_HEX_CHARS]


def mask_lengths(length: int) -> tuple[int, int]:
    """How many leading and trailing characters stay visible for a value of this length.

    Follows the common Chinese practice for phones (11 chars: 138****5678) and
    scales down: 18 chars keep 3+4, 8 keep 2+3, 4 keep 1+1, 3 keep 1+1 (张*丰),
    2 keep the first (张*), 1 keeps nothing. At most 7 characters are ever shown,
    and the mask keeps the length, which is not treated as secret.
    """
    if length <= 1:
        return 0, 0
    if length == 2:
        return 1, 0
    return min(3, max(1, (length + 1) // 4)), min(4, max(1, (length + 1) // 3))


def mask(series: pd.Series) -> pd.Series:
    """Keep a prefix and a suffix and star the middle; vectorised per distinct length."""
    text = _as_text(series)
    lengths = text.str.len()
    result = pd.Series(pd.NA, index=text.index, dtype="string")
    for length in lengths.dropna().unique():
        rows = lengths == length
        head, tail = mask_lengths(int(length))
        middle = MASK_CHAR * (int(length) - head - tail)
        chunk = text[rows]
        ending = chunk.str.slice(int(length) - tail) if tail else ""
        result[rows] = chunk.str.slice(0, head) + middle + ending
    return result


def bucket(series: pd.Series, width: float) -> pd.Series:
    """Floor each number to its bucket of `width`: 1234 with width 100 becomes 1200.0."""
    numbers = pd.to_numeric(series).astype("float64")
    return np.floor(numbers / width) * width


def add_laplace_noise(series: pd.Series, scale: float) -> pd.Series:
    """Add Laplace(0, scale) noise to each value; nulls stay null.

    This is a one-off perturbation of stored values, not a differentially private
    release: no epsilon is accounted (queries get their own DP noise later), so
    diffprivlib's per-value mechanisms would only add cost. The generator is seeded
    from `secrets` for each call, because noise anyone can regenerate can be
    subtracted again.
    """
    numbers = pd.to_numeric(series).astype("float64")
    rng = np.random.default_rng(secrets.randbits(128))
    return numbers + rng.laplace(0.0, scale, size=len(numbers))
