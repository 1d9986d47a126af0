"""An executed notebook as a reviewer reads it: nbconvert's HTML, sanitized, and served
so that nothing in it can run.

Outputs come from operator code, so they are untrusted HTML: nbconvert drops scripts
and unsafe markup (`sanitize_html`), and the page is served with a CSP sandbox that
forbids scripts, forms and every network fetch; the console embeds it in a sandboxed
iframe. Images stay visible as data: URLs.
"""

from __future__ import annotations

import nbformat
from nbconvert import HTMLExporter

__all__ = ["NOTEBOOK_CSP", "notebook_html"]

NOTEBOOK_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def notebook_html(notebook_json: str) -> str:
    """The notebook with its outputs as one self-contained HTML page."""
    notebook = nbformat.reads(notebook_json, as_version=4)
    exporter = HTMLExporter(template_name="lab", sanitize_html=True, embed_images=True)
    exporter.exclude_input_prompt = False
    body, _resources = exporter.from_notebook_node(notebook)
    return body
