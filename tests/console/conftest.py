"""Console fixtures: a domain with a released job, tokens per role, and (for the browser
tests) a real uvicorn server on 127.0.0.1 started and stopped by the test."""

from __future__ import annotations

import re
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from operators.accounts import add_user, create_token, get_user
from tests.conftest import AUTHORITY, World, require_component

ROLES = {"li": "operator", "mallory": "operator", "wang": "reviewer", "chen": "regulator"}


@pytest.fixture
def tokens(world: World) -> dict[str, str]:
    """A token per user; gao works for the data authority."""
    with world.domain.transaction() as session:
        add_user(session, "gao", "authority", None, AUTHORITY)
        names = [*ROLES, "gao"]
        return {n: create_token(session, get_user(session, n), AUTHORITY) for n in names}


@dataclass
class Server:
    url: str
    world: World


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(world: World) -> Iterator[Server]:
    """The app under uvicorn in a thread, on loopback only; stopped when the test ends."""
    import uvicorn

    from service.api import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(world.domain.settings), host="127.0.0.1", port=port, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):  # bounded: uvicorn sets `started` once it listens
        if instance.started:
            started.set()
            break
        started.wait(0.05)
    assert instance.started, "uvicorn did not start"
    yield Server(f"http://127.0.0.1:{port}", world)
    instance.should_exit = True
    thread.join(timeout=30)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_factory(tmp_path) -> Iterator[object]:
    """Opens a fresh headless Chromium profile per call (one per role: separate cookies)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require_component(sync_playwright is not None, "playwright (pip extra: test)")
    require_component(shutil.which(CHROMIUM) is not None, "chromium (Debian package)")
    assert sync_playwright is not None
    contexts = []
    with sync_playwright() as playwright:

        def open_profile(name: str):  # type: ignore[no-untyped-def]
            profile = tmp_path / f"profile-{name}"
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                locale="zh-CN",
            )
            context.set_default_timeout(60_000)
            contexts.append(context)
            page = context.pages[0] if context.pages else context.new_page()
            # irreversible actions ask first (data-confirm); these users mean it
            page.on("dialog", lambda dialog: dialog.accept())
            return page

        yield open_profile
        for context in contexts:
            context.close()


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# two or more English words in a row, outside code, data and inputs: an untranslated string
ENGLISH = re.compile(r"(?<![\w/.-])[A-Za-z][a-z]+(?:[ ,'][A-Za-z][a-z]+)+(?![\w/.-])")
# values the test world itself holds (a licence's purpose, reviewers' written reasons in
# tests.products.conftest), not interface text
WORLD_DATA = {"test scenario", "checks passed", "duplicate run"}
# a catalog key shown as it is: the console looked a code up and did not word it
RAW_KEY = re.compile(
    r"\b(?:rule|reason|fix|problem|suggestion|failure|provenance|step|figure|limit|error):[a-z_]+"
)
VISIBLE_TEXT = """() => {
  const skip = new Set(["CODE", "PRE", "SCRIPT", "STYLE", "TEXTAREA", "OPTION", "TITLE"]);
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, hidden = false;
    for (; el; el = el.parentElement) { if (skip.has(el.tagName)) { hidden = true; break; } }
    if (!hidden && node.textContent.trim()) { texts.push(node.textContent); }
  }
  return texts;
}"""


def untranslated(page) -> set[str]:  # type: ignore[no-untyped-def]
    """English phrases on a page's interface text (code, data and inputs left out)."""
    texts = page.evaluate(VISIBLE_TEXT)
    return {p for text in texts for p in ENGLISH.findall(text) if p not in WORLD_DATA}


class _VisibleText(HTMLParser):
    """The text of an HTML page's body as VISIBLE_TEXT reads it in a browser."""

    SKIP = frozenset({"code", "pre", "script", "style", "textarea", "option", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self.SKIP:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._open and data.strip():
            self.texts.append(data)


def untranslated_html(html: str) -> set[str]:
    """English phrases in a served page's interface text, without a browser."""
    parser = _VisibleText()
    parser.feed(html)
    return {p for text in parser.texts for p in ENGLISH.findall(text) if p not in WORLD_DATA}


def raw_keys(page) -> set[str]:  # type: ignore[no-untyped-def]
    """Catalog keys (`rule:...`) anywhere in the page's interface text."""
    return {key for text in page.evaluate(VISIBLE_TEXT) for key in RAW_KEY.findall(text)}


@pytest.fixture
def client(world: World) -> TestClient:
    from service.api import create_app

    return TestClient(create_app(world.domain.settings), follow_redirects=False)


def login(client: TestClient, token: str) -> str:
    """Log in; return the CSRF token the next page's forms carry."""
    response = client.post("/login", data={"token": token})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get(response.headers["location"]).text
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, page[:500]
    return found.group(1)
