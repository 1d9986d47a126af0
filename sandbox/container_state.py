"""What a stopped container can still tell its runner: exit status, logs, final state.

Read in that order, by the runner that owns the container, before anyone removes
it. Each read tolerates a container that is gone or being removed (the engine's 404
and 409): the job then ends with what could be read, and the error stays its own.
"""

from __future__ import annotations

from typing import Any


class ContainerGone(Exception):
    """The engine no longer has (or is removing) a job's container."""


def exit_status(client: Any, container_id: str, timeout: float) -> dict[str, Any]:
    """Block until the container has stopped; {"ExitCode": n}, or {} if it is gone."""
    from docker.errors import APIError, NotFound

    try:
        answer = client.api.wait(container_id, timeout=timeout)
    except (NotFound, APIError, OSError):  # gone, or the engine is busy: inspect says
        return {}
    code = answer.get("StatusCode") if isinstance(answer, dict) else None
    return {} if code is None else {"ExitCode": int(code)}


def read_logs(client: Any, container_id: str, is_stderr: bool) -> bytes:
    """The container's stdout or stderr; ContainerGone if the engine cannot give it."""
    from docker.errors import APIError, NotFound

    try:
        data = client.api.logs(container_id, stdout=not is_stderr, stderr=is_stderr)
    except NotFound as error:
        raise ContainerGone("the container is gone") from error
    except APIError as error:
        if error.status_code != 409:  # 409: dead or marked for removal
            raise
        raise ContainerGone(str(error.explanation or error)[:200]) from error
    return bytes(data)


def final_state(client: Any, container_id: str) -> dict[str, Any] | None:
    """`docker inspect`'s State of a stopped container; None if gone or being removed."""
    from docker.errors import APIError, NotFound

    try:
        state = client.api.inspect_container(container_id)["State"]
    except (NotFound, APIError):
        return None
    if state.get("Status") in ("dead", "removing"):
        return None
    return dict(state)
