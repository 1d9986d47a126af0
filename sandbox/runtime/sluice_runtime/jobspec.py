"""The job spec (/job/spec.json) as the runtime accepts it; anything else is refused.

The host writes the spec, but the runtime still checks it: names become SQL
identifiers and paths become SQL literals, so they must have a known shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from . import EXIT_BAD_SPEC, JobFailed

KINDS = ("sql", "notebook", "probe", "fit")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_OUTPUT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}\.parquet")
_BROKER = re.compile(r"/broker/[A-Za-z0-9_.-]{1,64}")
_MEMORY = re.compile(r"\d{1,7}(\.\d+)?\s?(KB|MB|GB|KiB|MiB|GiB)")


class JobSpec(NamedTuple):
    """A checked spec. A named tuple, not a dataclass: `dataclasses` loads `inspect`
    and its parsers, ~14 ms of a small SQL sandbox's CPU."""

    kind: str
    sql: str = ""
    code: str = ""
    datasets: dict[str, str] | None = None
    output: str = "result.parquet"
    threads: int = 2
    memory_limit: str | None = None
    spill_limit: str | None = None  # DuckDB's max_temp_directory_size
    notebook: str = ""
    timeout: int = 600
    broker: str = ""  # the broker's socket, for notebooks that have one
    model: dict[str, Any] | None = None  # a fit job's model: kind, features, label, bounds, ε

    @property
    def meta_name(self) -> str:
        return self.output.removesuffix(".parquet") + ".meta.json"


def load(path: Path) -> JobSpec:
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise JobFailed(EXIT_BAD_SPEC, f"cannot read job spec {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise JobFailed(EXIT_BAD_SPEC, "job spec must be a JSON object")
    return parse(raw)


def parse(raw: dict[str, Any]) -> JobSpec:
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _bad(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "probe":
        code = raw.get("code", "")
        if not isinstance(code, str):
            raise _bad("probe code must be a string")
        return JobSpec(kind=kind, code=code)
    if kind == "notebook":
        return _notebook(raw)
    sql = raw.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise _bad("sql must be a non-empty string")
    datasets = _datasets(raw)
    output = raw.get("output", "result.parquet")
    if kind != "fit" and (not isinstance(output, str) or not _OUTPUT.fullmatch(output)):
        raise _bad(f"output must be a plain file name ending in .parquet, got {output!r}")
    threads = raw.get("threads", 2)
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 64:
        raise _bad(f"threads must be an integer from 1 to 64, got {threads!r}")
    memory = raw.get("memory_limit")
    if memory is not None and not (isinstance(memory, str) and _MEMORY.fullmatch(memory)):
        raise _bad(f"memory_limit must look like '1GB' or '512MB', got {memory!r}")
    spill = raw.get("spill_limit")
    if spill is not None and not (isinstance(spill, str) and _MEMORY.fullmatch(spill)):
        raise _bad(f"spill_limit must look like '4GB' or '512MB', got {spill!r}")
    if kind == "fit":
        model = raw.get("model")
        if not isinstance(model, dict):
            raise _bad("a fit job needs its model: kind, features, label, bounds, epsilon")
        return JobSpec("fit", sql, "", datasets, "model.json", threads, memory, spill, model=model)
    return JobSpec("sql", sql, "", datasets, output, threads, memory, spill)


def _datasets(raw: dict[str, Any]) -> dict[str, str]:
    datasets = raw.get("datasets", {})
    if not isinstance(datasets, dict):
        raise _bad("datasets must map names to /data/<name>.parquet")
    for name, where in datasets.items():
        if not _NAME.fullmatch(str(name)) or not isinstance(where, str):
            raise _bad(f"dataset {name!r} is not a plain name with a path")
    return dict(datasets)


def _notebook(raw: dict[str, Any]) -> JobSpec:
    notebook = raw.get("notebook")
    if not isinstance(notebook, str) or not notebook.endswith(".ipynb"):
        raise _bad("notebook must name the .ipynb file to run, e.g. /job/notebook.ipynb")
    timeout = raw.get("timeout", 600)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise _bad(f"timeout must be a positive integer of seconds, got {timeout!r}")
    broker = raw.get("broker", "")
    if not isinstance(broker, str) or (broker and not _BROKER.fullmatch(broker)):
        raise _bad(f"broker must be a socket under /broker, got {broker!r}")
    return JobSpec("notebook", datasets=_datasets(raw), notebook=notebook, timeout=timeout,
                   broker=broker)  # fmt: skip


def _bad(message: str) -> JobFailed:
    return JobFailed(EXIT_BAD_SPEC, f"bad job spec: {message}")
