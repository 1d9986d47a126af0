"""A released table in the console: preview, a chart with error bars for noisy columns,
CSV that Excel reads as UTF-8, XLSX, and nothing for anyone outside the company."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

from operators.accounts import get_user
from products.review import review
from service.web.charts import chart_for
from tests.conftest import World
from tests.console.conftest import login

NOISY = (
    "SELECT district, COUNT(*) AS n, SUM(water_fee) AS water "
    "FROM enterprise_utilities GROUP BY district"
)


def test_bars_by_category_with_error_bars_and_escaped_labels() -> None:
    frame = pd.DataFrame(
        {"district": ["海曙区", "<script>x</script>", "北仑区"], "n": [40, 25, 31]}
    )
    chart = chart_for(frame, {"n": 4.5}, "result.csv")
    assert (
        chart is not None
        and chart.shape == "bar"
        and (chart.axis, chart.value) == ("district", "n")
    )
    assert chart.svg.count("<rect") == 3 and chart.svg.count('class="error-bar"') == 3
    assert "<script>" not in chart.svg and "&lt;script&gt;" in chart.svg
    assert "± 4.50" in chart.svg


def test_a_line_over_time_and_no_chart_without_an_axis() -> None:
    frame = pd.DataFrame(
        {"month": ["2026-03-01", "2026-01-01", "2026-02-01"], "kwh": [3.0, 1.0, 2.0]}
    )
    chart = chart_for(frame, {}, "by_month.csv")
    assert chart is not None and chart.shape == "line" and "error-bar" not in chart.svg
    assert chart_for(pd.DataFrame({"n": [1, 2]}), {}, "x.csv") is None


@pytest.mark.sandbox
def test_released_table_previewed_charted_and_downloaded(client, tokens, world: World) -> None:
    csrf = login(client, tokens["li"])
    submitted = client.post(
        "/console/jobs", data={"csrf": csrf, "license_id": str(world.license_id), "sql": NOISY}
    )
    job_path = submitted.headers["location"]
    job_id = int(job_path.rsplit("/", 1)[1])
    assert "/results/0.csv" not in client.get(job_path).text  # nothing before release
    with world.domain.transaction() as session:
        review(session, world.domain.home, job_id, get_user(session, "wang"), "approve", "ok")
        review(session, world.domain.home, job_id, get_user(session, "zhao"), "approve", "ok")

    page = client.get(job_path).text
    assert 'id="result-0"' in page and "<svg" in page and 'class="error-bar"' in page
    csv = client.get(f"{job_path}/results/0.csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    released = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    assert list(released.columns) == ["district", "n", "water"]
    assert page.count("<rect") == len(released)  # one bar per released district
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(f"{job_path}/results/0.xlsx").content))
    rows = list(sheet.active.iter_rows(values_only=True))
    assert list(rows[0]) == ["district", "n", "water"]
    assert [r[0] for r in rows[1:]] == list(released["district"])

    login(client, tokens["mallory"])  # another company: as if the job did not exist
    assert client.get(f"{job_path}/results/0.csv").status_code == 404
    login(client, tokens["li"])
    assert client.get(f"{job_path}/results/7.csv").status_code == 404
