"""The identifier index: keyed hashes of raw identifiers, for the output gate's value scan.

Built at ingest from the raw frame, so the gate can ask "does this output cell
equal a raw identifier?" without the domain keeping the raw values anywhere.
"""

from __future__ import annotations

import hmac
import math
import numbers
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from catalog.bucket_spill import BucketSpill
from catalog.desensitize import PSEUDONYM_BYTES, pseudonym_series, row_texts
from catalog.keyed_hash import KeyedHash, digest_pairs
from catalog.schema import DatasetSchema
from core.errors import InvalidInput
from core.levels import Role

DIGEST_BYTES = 16
MAGIC = b"SLUIDX1\n"
# Tags keep a single identifier from ever colliding with a joined combination.
IDENTIFIER_TAG = b"id\x00"
COMBINATION_TAG = b"qi\x00"
SEPARATOR = "\x1f"


@lru_cache(maxsize=4)
def index_key(key: bytes) -> bytes:
    """A key derived from the pseudonym key, so index digests never equal pseudonyms."""
    return hmac.digest(key, b"identifier-index", "sha256")


def normalise(value: object) -> str | None:
    """The text a value is compared by: trimmed; 42.0 reads as 42; dates in ISO form."""
    if value is None or (not isinstance(value, str) and _is_null(value)):
        return None
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        text = str(int(float(value)))
    elif isinstance(value, datetime) and value == datetime(value.year, value.month, value.day):
        text = value.date().isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _is_null(value: object) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    try:
        result = pd.isna(value)
    except (TypeError, ValueError):
        return False
    return isinstance(result, bool | np.bool_) and bool(result)


def tagged_digest(derived: bytes, tag: bytes, text: str) -> str:
    """The keyed hash stored in an index: tag separates identifiers from combinations."""
    return hmac.digest(derived, tag + text.encode("utf-8"), "sha256")[:DIGEST_BYTES].hex()


def build_identifier_index(frame: pd.DataFrame, schema: DatasetSchema, key: bytes) -> set[str]:
    """Hash every raw direct identifier, and each row's quasi-identifier combination.

    Every `identifier` column counts, dropped and L4 ones included: they are the
    values most worth catching in an output. Combinations are indexed only when
    there are two or more quasi-identifiers; a single one is no combination.
    """
    body = identifier_digests(frame, schema, key).tobytes()  # tolist() drops trailing zeros
    return {body[i : i + DIGEST_BYTES].hex() for i in range(0, len(body), DIGEST_BYTES)}


def identifier_digests(
    frame: pd.DataFrame, schema: DatasetSchema, key: bytes, done: Sequence[str] = ()
) -> np.ndarray:
    """The index entries of `frame` (as build_identifier_index) as sorted, distinct
    16-byte values: each distinct text is hashed once, with the key's HMAC states
    prepared once (catalog.keyed_hash), and no hex text is made on the way. Identifier
    columns in `done` are left out: the caller has their entries already
    (`pseudonyms_and_digests`)."""
    hasher = KeyedHash(index_key(key))
    messages: list[bytes] = []
    for spec in schema.columns:
        if spec.role is Role.IDENTIFIER and spec.name in frame.columns and spec.name not in done:
            texts = _distinct_texts(frame[spec.name])
            messages += [IDENTIFIER_TAG + t.encode("utf-8") for t in texts]
    quasi = [
        c.name
        for c in schema.columns
        if c.role is Role.QUASI_IDENTIFIER and c.name in frame.columns
    ]
    if len(quasi) >= 2:
        for row in frame[quasi].drop_duplicates().itertuples(index=False, name=None):
            joined = _combination_text(row)
            if joined is not None:
                messages.append(COMBINATION_TAG + joined.encode("utf-8"))
    digests = hasher.digests(messages, DIGEST_BYTES)
    return sorted_distinct(np.frombuffer(digests, dtype=f"S{DIGEST_BYTES}"))


def hashed_together(schema: DatasetSchema) -> list[str]:
    """The identifier columns whose pseudonyms and index entries `pseudonyms_and_digests`
    makes in one pass: pseudonymized text, where both hash the same trimmed text."""
    return [
        c.name
        for c in schema.columns
        if c.role is Role.IDENTIFIER and c.desensitize == "pseudonymize" and c.type == "string"
    ]


def pseudonyms_and_digests(series: pd.Series, key: bytes) -> tuple[pd.Series, np.ndarray]:
    """A text identifier column's pseudonyms (as `desensitize.pseudonymize`) and its
    index entries (as `identifier_digests`, not yet sorted nor distinct), each row's
    text encoded once and hashed under both keys in one loop. Every row is hashed:
    finding the distinct values first cost more than hashing the repeats (at ingest,
    0.27 µs a row against 0.28 µs for both hashes), and `IndexSpill` drops repeated
    entries when it sorts. An empty text has a pseudonym but no index entry."""
    present, texts = row_texts(series)
    indexed = KeyedHash(index_key(key)).after(IDENTIFIER_TAG)
    sizes = (PSEUDONYM_BYTES, DIGEST_BYTES)
    names, entries = digest_pairs(KeyedHash(key), indexed, texts, sizes)
    digests = np.frombuffer(entries, dtype=f"S{DIGEST_BYTES}")
    lengths = pc.binary_length(texts).to_numpy()
    if (lengths == 0).any():
        digests = digests[lengths > 0]
    codes = None if present is None else np.where(present, np.cumsum(present) - 1, -1)
    return pseudonym_series(codes, names, series.index), digests


def _distinct_texts(series: pd.Series) -> set[str]:
    """The distinct non-empty normalised texts of a column; text columns (the usual
    identifier) skip `normalise`'s type checks, which would give the same result."""
    distinct = series.dropna().unique()
    if isinstance(series.dtype, pd.StringDtype):  # tolist(): see desensitize.pseudonymize
        texts = {str(v).strip() for v in distinct.tolist()}
        texts.discard("")
        return texts
    return {t for t in (normalise(v) for v in distinct.tolist()) if t}


def sorted_distinct(digests: np.ndarray) -> np.ndarray:
    """Fixed-width digests sorted (memcmp order = hex order) with repeats removed.
    A sort and a neighbour comparison: numpy's hash-based unique is ~15x slower here."""
    ordered = np.sort(digests)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _combination_text(values: Iterable[object]) -> str | None:
    texts = [normalise(v) for v in values]
    if all(t is None for t in texts):
        return None
    return SEPARATOR.join(t or "" for t in texts)


def contains_identifier(value: object, index: AbstractSet[str], key: bytes) -> bool:
    """Whether an output value equals (after normalising) a raw direct identifier."""
    text = normalise(value)
    return text is not None and tagged_digest(index_key(key), IDENTIFIER_TAG, text) in index


def contains_combination(values: Sequence[object], index: AbstractSet[str], key: bytes) -> bool:
    """Whether values, in the schema's quasi-identifier order, equal a raw row's combination."""
    joined = _combination_text(values)
    return joined is not None and tagged_digest(index_key(key), COMBINATION_TAG, joined) in index


def save_index(path: Path, hashes: set[str]) -> None:
    """Write the digests sorted and concatenated: 16 bytes each, about 16 MB per million."""
    body = b"".join(bytes.fromhex(h) for h in sorted(hashes))
    path.write_bytes(MAGIC + body)


class IndexSpill:
    """An identifier index built batch by batch in flat memory (catalog.bucket_spill):
    `write` sorts one bucket at a time, so a file of any size never has its whole index
    in memory. The index file is the same as `save_index`'s."""

    SORTERS = 2

    def __init__(self, folder: Path) -> None:
        self._spill = BucketSpill(folder, DIGEST_BYTES)

    def add(self, digests: np.ndarray) -> None:
        self._spill.add(digests)

    def write(self, path: Path) -> int:
        """Write the index file; how many distinct digests it holds. Removes the spill."""
        count = 0
        with path.open("wb") as out:
            out.write(MAGIC)
            for unique in self._sorted_buckets():
                out.write(unique.tobytes())
                count += len(unique)
        self._spill.discard()
        return count

    def _sorted_buckets(self) -> Iterator[np.ndarray]:
        """Each bucket sorted, repeats removed, in bucket order: SORTERS threads sort
        ahead (NumPy sorts outside the GIL) with at most SORTERS + 1 buckets in memory."""
        with ThreadPoolExecutor(self.SORTERS, thread_name_prefix="sluice-index-sort") as pool:
            sorting: deque[Future[np.ndarray]] = deque()
            for bucket in self._spill.buckets(f"S{DIGEST_BYTES}"):
                sorting.append(pool.submit(sorted_distinct, bucket))
                if len(sorting) > self.SORTERS:
                    yield sorting.popleft().result()
            while sorting:
                yield sorting.popleft().result()

    def discard(self) -> None:
        self._spill.discard()


class IdentifierIndex(AbstractSet[str]):
    """An index file read in place: its digests are sorted, so a lookup is a binary
    search over the mapped file. Opening one costs nothing and holds no memory
    whatever the dataset's size (a set of 10M hex digests took 13 s and ~1 GB to build,
    for every job). Members are digests as hex text, as `tagged_digest` gives them."""

    def __init__(self, path: Path) -> None:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(len(MAGIC))
        if head != MAGIC or (size - len(MAGIC)) % DIGEST_BYTES:
            raise InvalidInput.coded("catalog_index_invalid", path=str(path))
        count = (size - len(MAGIC)) // DIGEST_BYTES
        kind = f"S{DIGEST_BYTES}"
        self._digests: np.ndarray = (
            np.memmap(path, dtype=kind, mode="r", offset=len(MAGIC), shape=(count,))
            if count
            else np.zeros(0, dtype=kind)
        )

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str) or len(item) != 2 * DIGEST_BYTES:
            return False
        try:
            wanted = bytes.fromhex(item)
        except ValueError:
            return False
        # NumPy orders fixed-width bytes as if zero-padded: the order the file was sorted
        # in; an element read back has lost its trailing zero bytes, so pad it to compare
        at = int(np.searchsorted(self._digests, np.bytes_(wanted)))
        return at < len(self._digests) and self._padded(at) == wanted

    def _padded(self, at: int) -> bytes:
        return bytes(self._digests[at]).ljust(DIGEST_BYTES, b"\x00")

    def __iter__(self) -> Iterator[str]:
        for at in range(len(self._digests)):
            yield self._padded(at).hex()

    def __len__(self) -> int:
        return len(self._digests)

    @classmethod
    def _from_iterable(cls, found: Iterable[str]) -> set[str]:  # type: ignore[override]
        return set(found)  # what `&`, `|` and `-` with another set give: a plain set


class AnyIndex(AbstractSet[str]):
    """Several datasets' indexes as one: a digest is in it if any holds it."""

    def __init__(self, indexes: Sequence[AbstractSet[str]]) -> None:
        self._indexes = list(indexes)

    def __contains__(self, item: object) -> bool:
        return any(item in index for index in self._indexes)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for index in self._indexes:
            for digest in index:
                if digest not in seen:
                    seen.add(digest)
                    yield digest

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @classmethod
    def _from_iterable(cls, found: Iterable[str]) -> set[str]:  # type: ignore[override]
        return set(found)


def load_index(path: Path) -> IdentifierIndex:
    """The identifier index at `path`, read in place (InvalidInput if it is not one)."""
    return IdentifierIndex(path)
