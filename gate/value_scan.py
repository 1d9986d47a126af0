"""The value scan of the output gate: output cells against the domain's raw identifiers.

Two tests, both over keyed hashes built at ingest (catalog.identifiers), never raw
values: a single cell equal to a raw direct identifier, and a row whose values, in
some order of its non-aggregate columns, equal a raw record's quasi-identifier
combination. Output columns may be renamed, so every ordering of the candidate
columns is tried, each over the table's distinct value tuples only: with k such
columns and m quasi-identifiers that is k!/(k-m)! orderings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import pandas as pd

from catalog.identifiers import normalise
from gate.findings import MAX_LISTED_ROWS, Finding, make_finding

__all__ = ["Combination", "scan_combinations", "scan_identifiers"]

Hits = dict[str, np.ndarray]


Texts = tuple[str | None, ...]


@dataclass(frozen=True)
class Combination:
    """One dataset's quasi-identifiers (schema order) and a test against its raw records.

    `matches` takes a batch of candidate combinations, each the normalised texts of
    its values in schema order (None for a null), and says which a raw record holds.
    """

    dataset: str
    columns: tuple[str, ...]
    matches: Callable[[list[Texts]], Sequence[bool]]


def scan_identifiers(
    frame: pd.DataFrame, columns: list[str], is_identifier: Callable[[object], bool]
) -> tuple[list[Finding], Hits]:
    """Rows whose value matches a raw identifier, per column; the value is never recorded."""
    findings: list[Finding] = []
    hits: Hits = {}
    for column in columns:
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        bad = [i for i, value in enumerate(uniques.tolist()) if is_identifier(value)]
        if not bad:
            continue
        hits[column] = np.isin(codes, bad)
        for code in bad:
            rows = np.flatnonzero(codes == code)
            figures = {"cells": int(rows.size), "rows": rows[:MAX_LISTED_ROWS].tolist()}
            findings.append(make_finding("value_scan", int(rows[0]), column, figures))
    return findings, hits


def _orderings(columns: list[str], combination: Combination) -> list[tuple[str, ...]]:
    """Which output columns may hold the combination's values, in the schema's order."""
    size = len(combination.columns)
    if size < 2 or len(columns) < size:
        return []
    return list(permutations(columns, size))


def _column_texts(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row and the normalised text per code (the last entry stands for null)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([normalise(v) for v in uniques.tolist()] + [None], dtype=object)
    return np.where(codes < 0, len(texts) - 1, codes), texts


def _distinct_tuples(
    columns: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of code tuples (one column per code array) and each row's index."""
    sizes = [len(texts) for _, texts in columns]
    if float(np.prod(sizes, dtype=np.float64)) < 2**62:  # one int64 per tuple: fast unique
        combined = np.zeros(len(columns[0][0]), dtype=np.int64)
        for (codes, _), size in zip(columns, sizes, strict=True):
            combined = combined * size + codes
        _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
        stacked = np.stack([codes[first] for codes, _ in columns], axis=1)
        return stacked, inverse.reshape(-1)
    stacked = np.stack([codes for codes, _ in columns], axis=1)
    distinct, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return distinct, inverse.reshape(-1)


def scan_combinations(
    frame: pd.DataFrame, columns: list[str], combinations: Sequence[Combination]
) -> tuple[list[Finding], Hits]:
    """Rows whose values equal a raw record's quasi-identifier combination.

    Values are normalised once per distinct value of a column, and each ordering is
    tested once per distinct tuple of codes, in one batch.
    """
    findings: list[Finding] = []
    hits: Hits = {}
    if frame.empty or not combinations:
        return findings, hits
    texts = {column: _column_texts(frame[column]) for column in columns}
    for combination in combinations:
        for ordering in _orderings(columns, combination):
            distinct, inverse = _distinct_tuples([texts[c] for c in ordering])
            batch = list(
                zip(*(texts[c][1][distinct[:, j]] for j, c in enumerate(ordering)), strict=True)
            )
            found = np.asarray(combination.matches(batch), dtype=bool)
            if not found.any():
                continue
            matched = found[inverse.reshape(-1)]
            for column in ordering:
                hits[column] = hits.get(column, np.zeros(len(frame), dtype=bool)) | matched
            rows = np.flatnonzero(matched)
            figures = {
                "dataset": combination.dataset,
                "columns": list(ordering),
                "cells": int(rows.size),
                "rows": rows[:MAX_LISTED_ROWS].tolist(),
            }
            findings.append(make_finding("combination_scan", int(rows[0]), None, figures))
    return findings, hits
