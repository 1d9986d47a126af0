"""A real Spark cluster for the tests: a standalone master and two workers, and a Spark
Connect server, each a separate JVM on loopback, started once per test session.

pyspark ships the launcher (`bin/spark-class`, `bin/spark-submit`) and, since 4.0, the
Spark Connect server's jar, so nothing is downloaded. Memory is kept small (daemons
256 MB, one core and 1 GB per worker) so the cluster fits beside the rest of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WORKERS = 2
STARTUP_SECONDS = 180  # JVMs start slowly on a loaded 2-core host
CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"


def spark_home() -> Path | None:
    """pyspark's folder, which is a Spark distribution's SPARK_HOME, if Java and it are here."""
    if shutil.which("java") is None:
        return None
    try:
        import pyspark
    except ImportError:
        return None
    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(home: Path, logs: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",  # bind every daemon to loopback only
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_LOG_DIR": str(logs),
        "SPARK_NO_DAEMONIZE": "1",
    }


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as reply:
            return int(json.load(reply).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready: object, what: str, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        dead = [p for p in processes if p.poll() is not None]
        if dead:
            break
        time.sleep(1)
    tails = "\n".join(
        f"{log.name}: {log.read_text(errors='replace')[-3000:]}" for log in logs.glob("*.log")
    )
    raise RuntimeError(f"{what} did not start\n{tails}")


@contextmanager
def standalone_cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """Yield the master's URL (spark://127.0.0.1:PORT) once both workers have registered."""
    home = spark_home()
    if home is None:
        raise RuntimeError("Spark needs Java 17+ and pyspark")
    root = Path(tempfile.mkdtemp(prefix="sluice-spark-"))
    logs = root / "logs"
    logs.mkdir()
    env = _environment(home, logs)
    spark_class = str(home / "bin" / "spark-class")
    port, ui_port = _free_port(), _free_port()
    master = f"spark://127.0.0.1:{port}"
    processes = [
        _start(
            [spark_class, "org.apache.spark.deploy.master.Master"]
            + ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port)],
            env,
            logs / "master.log",
        )
    ]
    try:
        for n in range(WORKERS):
            work = root / f"worker-{n}"
            work.mkdir()
            worker = [spark_class, "org.apache.spark.deploy.worker.Worker", master]
            worker += ["--host", "127.0.0.1", "--cores", "1", "--memory", "1g"]
            worker += ["--webui-port", str(_free_port()), "--work-dir", str(work)]
            processes.append(_start(worker, env, logs / f"worker-{n}.log"))
        _wait(lambda: _alive_workers(ui_port) >= WORKERS, "the Spark cluster", processes, logs)
        yield master, processes
    finally:
        _stop(processes)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def connect_server(master: str) -> Iterator[str]:
    """Yield sc://127.0.0.1:PORT of a Spark Connect server whose jobs run on `master`."""
    home = spark_home()
    if home is None:
        raise RuntimeError("Spark needs Java 17+ and pyspark")
    root = Path(tempfile.mkdtemp(prefix="sluice-spark-connect-"))
    env = _environment(home, root)
    env.pop("SPARK_DAEMON_MEMORY")  # a driver, not a daemon: it needs its own 1 GB
    port = _free_port()
    command = [str(home / "bin" / "spark-submit"), "--class", CONNECT_SERVER]
    command += ["--name", "sluice-test-connect", "--master", master]
    for key, value in {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.driver.memory": "1g",
        "spark.sql.runSQLOnFiles": "false",
    }.items():
        command += ["--conf", f"{key}={value}"]
    processes = [_start(command, env, root / "connect.log")]
    try:
        _wait(lambda: _port_open(port), "the Spark Connect server", processes, root)
        yield f"sc://127.0.0.1:{port}"
    finally:
        _stop(processes)
        shutil.rmtree(root, ignore_errors=True)
