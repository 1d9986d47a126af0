"""The notebook broker: a host-side service a notebook reaches through one Unix socket.

A notebook sees only L1 columns; everything else it asks of the broker, which runs
outside the notebook's sandbox, in the job runner's process. The socket lives alone
in a folder the sandbox backend mounts read-only at /broker (sandbox.runner's
`BrokerEndpoint`); released tables and every other file of the broker stay on the
host. The wire protocol is deliberately small: each connection carries one request
and one reply, each a frame of a 4-byte big-endian length and its bytes. A request
frame is a JSON object; a reply is a JSON header frame and a payload frame (Parquet
bytes of a released table, or empty). One request is served at a time, requests are
bounded in size and in number per notebook, and what a request does is decided by
the handler (`jobs.broker_service`), which runs every query as a child SQL job.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_REQUEST_BYTES",
    "MAX_RESULT_BYTES",
    "SOCKET_NAME",
    "NotebookBroker",
    "Reply",
    "read_frame",
    "write_frame",
]

SOCKET_NAME = "sluice.sock"
UNIX_PATH_MAX = 104  # sockaddr_un's sun_path, less a margin (108 on Linux)
MAX_REQUEST_BYTES = 64 * 1024  # a request is SQL and a few names, never data
MAX_RESULT_BYTES = 64 * 1024 * 1024  # a released table larger than this is refused
READ_TIMEOUT = 30.0  # seconds a client may take to send its request
_LENGTH = struct.Struct(">I")


@dataclass
class Reply:
    """What the broker answers: a JSON header and, for a table, its Parquet bytes."""

    header: dict[str, Any]
    payload: bytes = b""

    @classmethod
    def refused(cls, status: str, message: str, **facts: Any) -> Reply:
        return cls({"ok": False, "status": status, "message": message, **facts})


class FrameError(Exception):
    """A frame that is too large, cut short or not the JSON object it should be."""


def _bind_in(sock: socket.socket, folder: Path) -> None:
    """Bind the socket as `folder`/SOCKET_NAME, however long the folder's path: a Unix
    socket's path may hold only ~107 bytes, and a domain home (or a test's temporary
    folder) can be deeper than that. Through the folder's descriptor the path is short."""
    path = folder / SOCKET_NAME
    if len(os.fsencode(path)) < UNIX_PATH_MAX:
        sock.bind(str(path))
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.bind(f"/proc/self/fd/{descriptor}/{SOCKET_NAME}")
    finally:
        os.close(descriptor)


def read_frame(sock: socket.socket, limit: int) -> bytes:
    head = _read_exact(sock, _LENGTH.size)
    (length,) = _LENGTH.unpack(head)
    if length > limit:
        raise FrameError(f"the request is {length} bytes; at most {limit} are accepted")
    return _read_exact(sock, length)


def write_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise FrameError("the connection closed in the middle of a frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@dataclass
class NotebookBroker:
    """Serves one notebook job: `handler` answers each request, at most `max_requests`.

    `listen_in` (called by the sandbox backend once it knows the folder it mounts)
    binds the socket and starts a thread that serves connections one at a time.
    """

    handler: Callable[[dict[str, Any]], Reply]
    max_requests: int = 100
    served: int = 0
    _sock: socket.socket | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def listen_in(self, folder: Path) -> str:
        self.close()
        self._stop = threading.Event()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        _bind_in(sock, folder)  # the backend gives it to the sandbox's user alone
        sock.listen(1)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="notebook-broker", daemon=True)
        self._thread.start()
        return SOCKET_NAME

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(READ_TIMEOUT)
        try:
            request = _request(read_frame(conn, MAX_REQUEST_BYTES))
        except (FrameError, OSError) as exc:
            self._send(conn, Reply.refused("bad_request", str(exc)))
            return
        if self.served >= self.max_requests:
            why = f"this notebook has made its {self.max_requests} broker requests"
            self._send(conn, Reply.refused("limit", why))
            return
        self.served += 1
        started = time.perf_counter()
        try:
            reply = self.handler(request)
        except Exception as exc:  # noqa: BLE001  the notebook gets a reason, the job goes on
            reply = Reply.refused("error", f"the broker could not answer: {type(exc).__name__}")
        reply.header["broker_seconds"] = round(time.perf_counter() - started, 4)
        if len(reply.payload) > MAX_RESULT_BYTES:
            reply = Reply.refused("limit", f"the result is over {MAX_RESULT_BYTES} bytes")
        self._send(conn, reply)

    @staticmethod
    def _send(conn: socket.socket, reply: Reply) -> None:
        with contextlib.suppress(OSError):  # the notebook went away: nothing to tell
            write_frame(conn, json.dumps(reply.header, ensure_ascii=False).encode("utf-8"))
            write_frame(conn, reply.payload)


def _request(data: bytes) -> dict[str, Any]:
    try:
        request = json.loads(data)
    except ValueError as exc:
        raise FrameError(f"the request is not JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        raise FrameError('a request is a JSON object with an "op"')
    return request
