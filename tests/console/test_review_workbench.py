"""A reviewer decides in the browser alone: every row of a table page by page, the
notebook as it ran (rendered, its scripts inert), failures, and past decisions."""

from __future__ import annotations

import nbformat
import pandas as pd
import pytest

from gate.step import candidate_dir
from jobs.queries import get_job
from service.web.notebook_html import NOTEBOOK_CSP, notebook_html
from tests.conftest import World
from tests.console.conftest import login
from tests.products.conftest import L1_QUERY, decide, ran


def _notebook_with_hostile_output() -> str:
    cell = nbformat.v4.new_code_cell("display(HTML(...))")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": '<b id="kept">区县汇总</b><script>fetch("/api/v1/jobs")</script>'
                '<img src="x" onerror="alert(1)">',
                "text/plain": "<IPython.core.display.HTML object>",
            },
        )
    ]
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 分析"), cell])
    return nbformat.writes(book)


def test_a_notebook_renders_with_its_outputs_and_without_their_scripts() -> None:
    page = notebook_html(_notebook_with_hostile_output())
    assert "区县汇总" in page and "分析" in page
    # the operator's markup may show as text, but never as live elements
    assert "<script>fetch" not in page and '<img src="x" onerror' not in page
    assert "sandbox" in NOTEBOOK_CSP and "default-src 'none'" in NOTEBOOK_CSP


@pytest.mark.sandbox
def test_a_500_row_table_is_paged_to_the_last_row(client, tokens, world: World) -> None:
    job_id = ran(world, L1_QUERY)
    with world.domain.transaction() as session:
        folder = candidate_dir(world.domain.home, get_job(session, job_id))
    rows = pd.DataFrame({"code": [f"Z{i:04d}" for i in range(500)], "n": range(500)})
    rows.to_csv(folder / "result.csv", index=False)
    login(client, tokens["wang"])
    first = client.get(f"/console/review/{job_id}").text
    assert "Z0000" in first and "Z0099" in first and "Z0100" not in first
    assert "第 1 页，共 5 页" in first and 'id="next-page"' in first
    seen = set()
    for page in range(5):
        text = client.get(f"/console/review/{job_id}", params={"page": page}).text
        seen |= {code for code in rows["code"] if code in text}
    assert seen == set(rows["code"])  # every row reachable in the browser
    last = client.get(f"/console/review/{job_id}", params={"page": 99}).text  # clamps
    assert "Z0499" in last and 'id="next-page"' not in last
    api = client.get(f"/api/v1/review/jobs/{job_id}", params={"page": 4},
                     headers={"Authorization": f"Bearer {tokens['wang']}"})  # fmt: skip
    assert api.json()["outputs"][0]["preview"][-1]["code"] == "Z0499"


@pytest.mark.sandbox
def test_the_decision_history_lists_who_decided_what(client, tokens, world: World) -> None:
    job_id = ran(world, L1_QUERY)
    decide(world, job_id, "wang", "deny", "小区县可推断个体")
    login(client, tokens["wang"])
    page = client.get("/console/review/history").text
    assert f"/console/review/{job_id}" in page and "小区县可推断个体" in page and "驳回" in page
    login(client, tokens["li"])  # operators do not see the reviewers' history
    assert client.get("/console/review/history").status_code == 403


@pytest.mark.sandbox
def test_the_executed_notebook_is_served_inert(client, tokens, world: World) -> None:
    csrf = login(client, tokens["li"])
    upload = {"notebook": ("a.ipynb", _notebook_with_hostile_output().encode(), "application/json")}
    submitted = client.post(
        "/console/notebook",
        data={"csrf": csrf, "license_id": str(world.license_id)},
        files=upload,
    )
    assert submitted.status_code == 303, submitted.text
    job_id = int(submitted.headers["location"].rsplit("/", 1)[1])
    login(client, tokens["wang"])
    review_page = client.get(f"/console/review/{job_id}")
    if review_page.status_code == 404:  # nothing to review: the failure is on the job page
        pytest.fail(client.get(f"/console/jobs/{job_id}").text[:400])
    assert '<iframe id="notebook" sandbox' in review_page.text
    rendered = client.get(f"/console/review/{job_id}/notebook")
    assert rendered.status_code == 200
    assert rendered.headers["content-security-policy"] == NOTEBOOK_CSP
    assert "<script>fetch" not in rendered.text


@pytest.mark.sandbox
def test_a_refused_submission_keeps_the_query_and_says_why(client, tokens, world: World) -> None:
    csrf = login(client, tokens["li"])
    sql = "SELECT district, COUNT(*) AS n FROM enterprise_secret GROUP BY district"
    page = client.post(
        "/console/jobs/check", data={"csrf": csrf, "license_id": str(world.license_id), "sql": sql}
    )
    assert "enterprise_secret" in page.text and 'id="catalog-link"' in page.text
    other = world.license_id + 999
    refused = client.post(
        "/console/jobs", data={"csrf": csrf, "license_id": str(other), "sql": L1_QUERY}
    )
    assert refused.status_code == 404  # an unknown licence, answered on the form itself
    assert 'id="problem"' in refused.text and 'id="sql"' in refused.text
    assert "GROUP BY district" in refused.text  # the query is still in the editor
