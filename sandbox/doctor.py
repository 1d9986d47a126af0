"""`sluice sandbox doctor`: which backends can run jobs on this host, and why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.outdir import can_mount
from sandbox.pool import HOME_LABEL, pool_of
from sandbox.runner import available_backends, resolve_backend


def diagnose(
    image: str | None = None, pool_dir: Path | None = None, home: Path | None = None
) -> dict[str, Any]:
    """A report a person can act on: each backend's state, and what `auto` would pick;
    for docker, the warm pool of the domain `home` (its folder and waiting containers)."""
    backends = available_backends()
    report: dict[str, Any] = {
        "backends": {n: {"ok": r is None, "reason": r} for n, r in backends.items()},
        "auto": resolve_backend("auto"),
        "out_size_limit": (
            "enforced while jobs run (tmpfs on /out)"
            if can_mount()
            else "judged after the job only: mounting a tmpfs needs root"
        ),
    }
    report["docker"] = _docker_facts(image, pool_dir, home)
    return report


def _docker_facts(image: str | None, pool_dir: Path | None, home: Path | None) -> dict[str, Any]:
    from sandbox.docker_backend import engine_answers
    from sandbox.image import apt_mirror, build_prerequisites, image_present, image_tag

    facts: dict[str, Any] = {"engine": None, "image": image, "image_built": False}
    try:
        facts["image"] = image or image_tag()
        facts["mirror"] = apt_mirror().uri
    except Exception as exc:  # no apt source: say so, do not fail the report
        facts["mirror"] = f"none: {exc}"
    facts["build_prerequisites"] = build_prerequisites() or "ok"
    if not engine_answers():
        return facts
    import docker

    client = docker.from_env()
    facts["engine"] = client.version().get("Version")
    facts["image_built"] = bool(facts["image"]) and image_present(client, facts["image"])
    scope, folder = pool_of(home, pool_dir)
    facts["pool"] = {"scope": scope, "folder": str(folder)}
    facts["warm_containers"] = len(
        client.containers.list(filters={"label": f"{HOME_LABEL}={scope}"})
    )
    return facts


def summary(report: dict[str, Any]) -> str:
    lines = []
    for name, state in report["backends"].items():
        lines.append(f"{name}: {'works' if state['ok'] else 'unavailable — ' + state['reason']}")
    lines.append(f"auto picks: {report['auto']}")
    docker = report["docker"]
    lines.append(
        f"docker image: {docker['image']} ({'built' if docker['image_built'] else 'not built'})"
    )
    lines.append(f"/out size limit: {report['out_size_limit']}")
    return "\n".join(lines)
