"""The runtime's local mode over a synthetic twin: query(), schema() and fit() as the
sandbox's broker offers them, with DuckDB locked to the twin's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog.schema import load_schema
from catalog.synthetic import ENTERPRISE_SCHEMA, SOCIAL_SECURITY_SCHEMA
from catalog.twin import data_dictionary, twin
from sandbox.runtime import sluice_runtime as runtime

ROWS = 1500


@pytest.fixture
def twin_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "twin"
    for schema in (ENTERPRISE_SCHEMA, SOCIAL_SECURITY_SCHEMA):
        twin(load_schema(schema), ROWS, seed=2).write(folder)
    monkeypatch.delenv("SLUICE_BROKER", raising=False)
    monkeypatch.delenv("SLUICE_TWIN", raising=False)
    runtime.use_twin(folder)
    return folder


def test_without_a_mode_the_error_says_how_to_choose_one(monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_BROKER", raising=False)
    monkeypatch.delenv("SLUICE_TWIN", raising=False)
    with pytest.raises(runtime.ModeNotChosen, match="SLUICE_TWIN=.*use_twin"):
        runtime.query("SELECT 1")


def test_query_sees_one_view_per_dataset_and_joins(twin_folder: Path) -> None:
    frame = runtime.query(
        "SELECT district, COUNT(*) AS n, SUM(insured_staff) AS staff FROM enterprise_utilities "
        "JOIN social_insurance USING (enterprise_id) GROUP BY district ORDER BY n DESC"
    )
    assert list(frame.columns) == ["district", "n", "staff"]
    assert frame["n"].sum() == ROWS and frame["n"].is_monotonic_decreasing


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO 'x.csv'",
        "SELECT 1; SELECT 2",
        "SET enable_external_access = true",
    ],
)
def test_only_one_select_over_the_twin_runs(twin_folder: Path, sql: str) -> None:
    with pytest.raises(ValueError, match="query failed"):
        runtime.query(sql)


def test_schema_is_the_twins_data_dictionary(twin_folder: Path) -> None:
    expected = data_dictionary(load_schema(ENTERPRISE_SCHEMA))
    expected |= data_dictionary(load_schema(SOCIAL_SECURITY_SCHEMA))
    assert runtime.schema() == expected


SQL = (
    "SELECT capital, employees, water_fee, district, "
    "CAST(water_fee > 200000 AS INTEGER) AS big FROM enterprise_utilities"
)


@pytest.mark.parametrize(
    ("model", "label", "params"),
    [
        ("logistic_regression", "big", {}),
        ("gaussian_nb", "district", {}),
        ("linear_regression", "water_fee", {}),
        ("kmeans", None, {"n_clusters": 3}),
    ],
)
def test_fit_trains_each_model_with_bounds_from_the_dictionary(
    twin_folder: Path, model: str, label: str | None, params: dict
) -> None:
    fitted = runtime.fit(model, SQL, features=["capital", "employees"], label=label, **params)
    assert fitted.rows == ROWS and fitted.epsilon == 1.0
    assert fitted.bounds["capital"] == [0.0, 100000000.0]
    frame = runtime.query(SQL + " LIMIT 40")
    predicted = fitted.predict(frame)  # extra columns in the frame are fine
    assert len(predicted) == 40
    if model in ("logistic_regression", "gaussian_nb"):
        proba = fitted.predict_proba(frame)
        assert proba.shape[0] == 40 and np.allclose(proba.sum(axis=1), 1.0)
        assert set(predicted) <= set(fitted.classes_)
    else:
        assert not hasattr(fitted, "predict_proba")
    if model == "kmeans":
        assert set(predicted) <= {0, 1, 2}


def test_a_feature_without_bounds_is_refused_unless_given(twin_folder: Path) -> None:
    sql = (
        "SELECT capital / 1000 AS k, CAST(water_fee > 200000 AS INTEGER) AS big "
        "FROM enterprise_utilities"
    )
    with pytest.raises(ValueError, match="'k' has no bounds"):
        runtime.fit("logistic_regression", sql, features=["k"], label="big")
    fitted = runtime.fit(
        "logistic_regression", sql, features=["k"], label="big", bounds={"k": (0, 100000)}
    )
    assert fitted.bounds == {"k": [0.0, 100000.0]}


@pytest.mark.parametrize(
    ("model", "label", "words"),
    [
        ("random_forest", "big", "model must be one of"),
        ("kmeans", "big", "no label"),
        ("logistic_regression", None, "a label"),
    ],
)
def test_bad_fit_requests_say_what_to_change(
    twin_folder: Path, model: str, label: str | None, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        runtime.fit(model, SQL, features=["capital"], label=label)


def test_dataset_over_a_twin_holds_the_public_columns_only(twin_folder: Path) -> None:
    frame = runtime.dataset("enterprise_utilities")
    assert list(frame.columns) == ["district", "industry"]  # the demo's L1 columns
    assert len(frame) == ROWS
    with pytest.raises(FileNotFoundError, match="not in the twin"):
        runtime.dataset("other")
