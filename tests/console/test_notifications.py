"""The header tells each person what waits for them: reviewers, authorities, operators."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import World
from tests.console.conftest import login
from tests.products.conftest import L1_QUERY, decide, ran

NOTIFICATIONS = Path(__file__).parents[2] / "service" / "web" / "notifications.py"
CATALOG = Path(__file__).parents[2] / "service" / "web" / "i18n" / "zh-CN.json"


def _header(client, path: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get(path).text
    found = re.search(r'<ul class="notifications".*?</ul>', page, re.S)
    return found.group(0) if found else ""


def test_every_notice_has_a_chinese_translation() -> None:
    texts = set(re.findall(r'Notice\(\s*"([^"]+)"', NOTIFICATIONS.read_text("utf-8")))
    assert texts and not texts - set(json.loads(CATALOG.read_text("utf-8")))


@pytest.mark.sandbox
def test_work_waiting_and_decisions_made_reach_the_right_people(client, tokens, world) -> None:
    assert isinstance(world, World)
    login(client, tokens["wang"])
    assert _header(client, "/console/review") == ""  # nothing waits yet
    job_id = ran(world, L1_QUERY)
    assert "1 项结果等待您审核" in _header(client, "/market")  # on every page
    login(client, tokens["li"])
    assert "您有 1 个作业等待审核" in _header(client, "/console/jobs")
    login(client, tokens["mallory"])  # the other company hears nothing of it
    assert _header(client, "/console/jobs") == ""
    decide(world, job_id, "wang")
    login(client, tokens["wang"])
    assert _header(client, "/console/review") == ""
    login(client, tokens["li"])
    assert "今日您的作业有 1 项审核决定" in _header(client, "/console/jobs")
