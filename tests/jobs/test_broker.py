"""The broker's socket protocol and bounds, with the runtime's own client on the other end."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from pathlib import Path

import pandas as pd
import pytest

from jobs.broker import MAX_REQUEST_BYTES, NotebookBroker, Reply, read_frame, write_frame
from sandbox.runtime.sluice_runtime import broker as client


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen: list[dict] = []
    entered, release = threading.Event(), threading.Event()

    def handler(request: dict) -> Reply:
        seen.append(request)
        if request["op"] == "query":
            buffer = io.BytesIO()
            pd.DataFrame({"district": ["a", "b"], "n": [12, 30]}).to_parquet(buffer)
            return Reply({"ok": True, "status": "released"}, buffer.getvalue())
        if request["op"] == "slow":
            entered.set()
            release.wait(30)
        return Reply.refused("denied", "no", reasons=[{"message": "water_fee is L3"}])

    broker = NotebookBroker(handler, max_requests=3)
    name = broker.listen_in(tmp_path)
    monkeypatch.setenv("SLUICE_BROKER", str(tmp_path / name))
    broker.gates = (entered, release)  # type: ignore[attr-defined]
    yield broker, seen, tmp_path / name
    release.set()
    broker.close()


def raw_call(path: Path, data: bytes) -> dict:
    import json

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        sock.sendall(data)
        header = json.loads(read_frame(sock, 1 << 20))
        read_frame(sock, 1 << 20)
        return header


def test_query_returns_the_released_table_as_a_frame(served) -> None:
    _, seen, _ = served
    frame = client.query("SELECT district, COUNT(*) AS n FROM t GROUP BY district")
    assert frame.to_dict("list") == {"district": ["a", "b"], "n": [12, 30]}
    assert seen == [
        {"op": "query", "sql": "SELECT district, COUNT(*) AS n FROM t GROUP BY district"}
    ]


def test_a_refusal_raises_with_the_reasons(served) -> None:
    with pytest.raises(client.BrokerRefused, match="water_fee is L3") as refused:
        client.call({"op": "other"})
    assert refused.value.status == "denied"


def test_requests_are_bounded_in_size_and_number(served) -> None:
    _, seen, path = served
    too_big = (MAX_REQUEST_BYTES + 1).to_bytes(4, "big") + b"{}"
    assert raw_call(path, too_big)["status"] == "bad_request"
    assert raw_call(path, (9).to_bytes(4, "big") + b"not json!")["status"] == "bad_request"
    assert raw_call(path, (2).to_bytes(4, "big") + b"[]")["status"] == "bad_request"
    assert seen == []  # none of them reached the handler, nor counted
    for _ in range(3):
        client.query("SELECT 1")
    with pytest.raises(client.BrokerRefused) as refused:
        client.query("SELECT 1")
    assert refused.value.status == "limit" and len(seen) == 3


def test_one_request_at_a_time(served) -> None:
    broker, seen, _ = served
    entered, release = broker.gates
    slow = threading.Thread(
        target=lambda: pytest.raises(client.BrokerRefused, client.call, {"op": "slow"})
    )
    slow.start()
    assert entered.wait(30)  # the slow request is in the handler
    second = threading.Thread(target=client.query, args=("SELECT 1",))
    second.start()
    second.join(0.5)
    assert second.is_alive() and len(seen) == 1  # it waits: nothing is served beside it
    release.set()
    slow.join(30), second.join(30)
    assert [r["op"] for r in seen] == ["slow", "query"]


def test_a_half_sent_request_does_not_stop_the_broker(served) -> None:
    _, _, path = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        write_frame(sock, b"")  # an empty frame, then hang up
    assert len(client.query("SELECT 1")) == 2


def test_only_the_socket_is_in_its_folder(served) -> None:
    _, _, path = served
    assert [p.name for p in path.parent.iterdir()] == ["sluice.sock"]


def test_attach_broker_gives_the_socket_to_the_sandbox_user_alone(tmp_path: Path) -> None:
    import json
    import stat

    from sandbox.runner import SandboxRun, attach_broker, prepare_work_dir

    broker = NotebookBroker(lambda request: Reply({"ok": True}))
    run = SandboxRun("1", tmp_path / "work", {}, {"kind": "notebook"}, broker=broker)
    prepare_work_dir(run)
    folder = tmp_path / "mounted"
    folder.mkdir()
    (folder / "left-over").write_text("from an earlier job")
    try:
        attach_broker(run, folder)
        assert [p.name for p in folder.iterdir()] == ["sluice.sock"]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "sluice.sock").stat().st_mode) == 0o600
        spec = json.loads((run.job_dir / "spec.json").read_text())
        assert spec["broker"] == "/broker/sluice.sock"
    finally:
        broker.close()


def test_a_socket_binds_in_a_folder_deeper_than_a_unix_path_allows(tmp_path: Path) -> None:
    """Domain homes can be deep; the socket still lands in the folder and answers."""
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6)
    deep.mkdir(parents=True)
    assert len(str(deep / "sluice.sock")) > 108  # more than sockaddr_un can hold
    broker = NotebookBroker(lambda request: Reply({"ok": True, "echo": request["op"]}))
    try:
        name = broker.listen_in(deep)
        assert (deep / name).is_socket()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            descriptor = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
            try:
                client.connect(f"/proc/self/fd/{descriptor}/{name}")
            finally:
                os.close(descriptor)
            write_frame(client, json.dumps({"op": "schema"}).encode())
            assert json.loads(read_frame(client, 1 << 20))["echo"] == "schema"
    finally:
        broker.close()
