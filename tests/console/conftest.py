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
# A Latin word on a Chinese page: three letters or more, or any dotted or underscored code
# (`alert.near_identical_query`, `water_fee`). Digits may follow (`Ed25519`); a word glued
# to other Latin text by `.`, `_`, `-` or `/` is read whole, so a path or file name is one.
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_./-])[A-Za-z][A-Za-z0-9]*(?:[._/-][A-Za-z0-9]+)*")
CODE_MARK = re.compile(r"[._]")
# Terms that stay Latin in Chinese government and engineering writing, each a name or an
# abbreviation with no settled Chinese wording (ε, δ and L1-L4 are not Latin words here).
ALLOWED_LATIN = frozenset(
    {
        "API",  # 应用程序接口: the abbreviation is what documents print
        "CSV",  # file formats are named by their abbreviation
        "XLSX",
        "JSON",
        "YAML",
        "Parquet",
        "HTTP",
        "HTTPS",
        "URL",
        "SQL",  # the query language the operator writes
        "SHA-256",  # digest algorithms go by their standard's name, as SM3 does
        "UTF-8",  # the character encoding, by its standard's name
        "DuckDB",  # engines: product names
        "Spark",
        "UTC",  # the time standard, as printed on every timestamp
        "CPU",  # 中央处理器: limits and budgets name it so
        "PEM",  # key file formats and standards go by their names
        "RFC",
        "Python",  # software named in a build's or a notebook's refusal: product names
        "Jupyter",
        "Debian",
    }
)
# values the test world itself holds (a licence's purpose, reviewers' written reasons in
# tests.products.conftest), not interface text
WORLD_DATA = {"test scenario", "checks passed", "duplicate run"}
# a catalog key shown as it is: the console looked a code up and did not word it
RAW_KEY = re.compile(
    r"\b(?:rule|reason|fix|problem|suggestion|failure|provenance|step|figure|limit|error):[a-z_]+"
)
# Elements whose text is not interface text: code, data and the machinery of the page.
# An element may also say so itself: translate="no" or data-raw, for genuine data
# (dataset and column names, SQL, ids, hashes, file names).
SKIPPED_TAGS = frozenset({"code", "pre", "kbd", "samp", "script", "style", "textarea", "title"})
VISIBLE_TEXT = """(skipped) => {
  const skip = new Set(skipped);
  const raw = (el) => skip.has(el.tagName.toLowerCase()) || el.getAttribute("translate") === "no"
    || el.hasAttribute("data-raw");
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, hidden = false;
    for (; el; el = el.parentElement) { if (raw(el)) { hidden = true; break; } }
    if (!hidden && node.textContent.trim()) { texts.push(node.textContent); }
  }
  return texts;
}"""


def visible_texts(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The text nodes of a page in a browser, without code, data and marked data."""
    texts: list[str] = page.evaluate(VISIBLE_TEXT, sorted(SKIPPED_TAGS))
    return texts


def english_words(text: str) -> set[str]:
    """The Latin words in one piece of interface text that a Chinese reader would meet
    untranslated: any code, and any word of three letters or more not in ALLOWED_LATIN."""
    for phrase in WORLD_DATA:
        text = text.replace(phrase, " ")
    found = set()
    for word in LATIN_WORD.findall(text):
        letters = sum(c.isalpha() for c in word)
        if CODE_MARK.search(word) or (letters >= 3 and word not in ALLOWED_LATIN):
            found.add(word)
    return found


def untranslated(page) -> set[str]:  # type: ignore[no-untyped-def]
    """English words in a page's interface text (code, data and marked data left out)."""
    return {w for text in visible_texts(page) for w in english_words(text)}


# elements without an end tag: they hold no text and never close
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _VisibleText(HTMLParser):
    """The text of an HTML page as VISIBLE_TEXT reads it in a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._open: list[tuple[str, bool]] = []  # (tag, its text is left out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID_TAGS:
            return
        named = dict(attrs)
        raw = tag in SKIPPED_TAGS or named.get("translate") == "no" or "data-raw" in named
        inherited = bool(self._open) and self._open[-1][1]
        self._open.append((tag, raw or inherited))

    def handle_endtag(self, tag: str) -> None:
        # an end tag closes its element and any left open inside it (an omitted </li>)
        if any(open_tag == tag for open_tag, _ in self._open):
            while self._open.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        if not (self._open and self._open[-1][1]) and data.strip():
            self.texts.append(data)


def untranslated_html(html: str) -> set[str]:
    """English words in a served page's interface text, without a browser."""
    parser = _VisibleText()
    parser.feed(html)
    return {w for text in parser.texts for w in english_words(text)}


def raw_keys(page) -> set[str]:  # type: ignore[no-untyped-def]
    """Catalog keys (`rule:...`) anywhere in the page's interface text."""
    return {key for text in visible_texts(page) for key in RAW_KEY.findall(text)}


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
