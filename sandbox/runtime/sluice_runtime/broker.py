"""The in-sandbox side of the notebook broker: query(), schema() and fit() over its socket.

Selected when SLUICE_BROKER names the socket (the runtime sets it from the job spec
before the kernel starts). Each call is one connection carrying one request and one
reply, each a frame of a 4-byte big-endian length and its bytes (jobs.broker on the
host): the request a JSON object, the reply a JSON header and a payload (Parquet
bytes of the released table, or empty). A refused call raises `BrokerRefused` with
the broker's reasons.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
from typing import Any

_LENGTH = struct.Struct(">I")
MAX_REPLY_BYTES = 256 * 1024 * 1024


class BrokerRefused(Exception):
    """The broker did not release what was asked: denied, withheld, over a limit.

    `status` says which (denied, blocked, failed, limit, refused, bad_request);
    `reasons` are the policy engine's, `findings` the gate's rules without figures.
    """

    def __init__(self, header: dict[str, Any]) -> None:
        self.status = str(header.get("status", "refused"))
        self.reasons = list(header.get("reasons") or [])
        self.findings = list(header.get("findings") or [])
        self.failure = header.get("failure")
        self.job = header.get("job")
        self.header = header
        lines = [f"{self.status}: {header.get('message', '')}"]
        lines += [f"  - {_reason_text(r)}" for r in self.reasons]
        if self.failure:
            lines.append(f"  - {self.failure}")
        lines += [f"  - {f.get('rule')}: {f.get('column') or ''}" for f in self.findings[:20]]
        super().__init__("\n".join(lines))


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):
        return str(reason.get("message") or reason.get("rule") or reason)
    return str(reason)


def socket_path() -> str | None:
    return os.environ.get("SLUICE_BROKER") or None


def call(request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Send one request; the reply's header and payload. Raises BrokerRefused."""
    path = socket_path()
    if path is None:
        raise RuntimeError("no Sluice broker here (SLUICE_BROKER is not set)")
    data = json.dumps(request, ensure_ascii=False).encode("utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(_LENGTH.pack(len(data)) + data)
        header = json.loads(_read_frame(sock))
        payload = _read_frame(sock)
    if not header.get("ok"):
        raise BrokerRefused(header)
    return header, payload


def _read_frame(sock: socket.socket) -> bytes:
    (length,) = _LENGTH.unpack(_read_exact(sock, _LENGTH.size))
    if length > MAX_REPLY_BYTES:
        raise RuntimeError(f"the broker's reply is {length} bytes; too large")
    return _read_exact(sock, length)


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise RuntimeError("the broker closed the connection mid-reply")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def query(sql: str) -> Any:
    """The released table of `sql`, run as its own SQL job (policy, gate, noise, ε)."""
    import pandas as pd

    _, payload = call({"op": "query", "sql": sql})
    return pd.read_parquet(io.BytesIO(payload))


def schema() -> dict[str, Any]:
    """The licensed datasets' data dictionary: levels, roles, types, bounds; no data."""
    header, _ = call({"op": "schema"})
    return dict(header["schema"])


def fit(
    model: str,
    sql: str,
    features: list[str],
    label: str | None = None,
    epsilon: float = 1.0,
    **params: Any,
) -> Any:
    """A DP model trained broker-side over the rows of `sql`; only its parameters return."""
    from .models import FittedModel

    request = {"op": "fit", "model": model, "sql": sql, "features": list(features),
               "label": label, "epsilon": epsilon, "params": params}  # fmt: skip
    header, _ = call(request)
    return FittedModel(header["model"])
