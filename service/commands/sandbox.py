"""`sluice sandbox`: build the runtime image, diagnose backends, set per-license limits."""

from __future__ import annotations

from typing import Annotated

import typer

from service.commands.common import Json, admin, domain
from service.output import emit, handles_errors

sandbox_app = typer.Typer(no_args_is_help=True, help="Sandbox backends, image and limits.")


@sandbox_app.command("build-image")
@handles_errors("sandbox.build_image")
def build_image(
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing when the tag exists (the default).")
    ] = True,
    as_json: Json = False,
) -> None:
    """Build the docker runtime image offline: debootstrap + wheels + docker import.

    The tag is a content hash, so this is a no-op once the image exists.
    """
    import docker

    from sandbox.image import ensure_image
    from service.settings import Settings

    settings = Settings()
    log = (lambda _line: None) if as_json else typer.echo
    tag, built = ensure_image(docker.from_env(timeout=600), settings.sandbox_image, log)
    emit({"image": tag, "built": built}, as_json, f"{tag}: {'built' if built else 'present'}")


@sandbox_app.command("doctor")
@handles_errors("sandbox.doctor")
def doctor(as_json: Json = False) -> None:
    """Say which sandbox backends work here, and why the others do not."""
    from sandbox.doctor import diagnose, summary
    from service.settings import Settings

    settings = Settings()
    report = diagnose(settings.sandbox_image, settings.sandbox_pool_dir, settings.domain_home.root)
    emit(report, as_json, summary)
    if not any(state["ok"] for state in report["backends"].values()):
        raise typer.Exit(1)


@sandbox_app.command("limits")
@handles_errors("sandbox.limits")
def limits(
    license: Annotated[int, typer.Option(help="The license whose jobs these limits bind.")],
    cpu_seconds: Annotated[int | None, typer.Option(help="CPU time per job.")] = None,
    wall_seconds: Annotated[int | None, typer.Option(help="Wall-clock time per job.")] = None,
    memory_mb: Annotated[int | None, typer.Option(help="Memory per job, in MB.")] = None,
    processes: Annotated[int | None, typer.Option(help="Processes per job.")] = None,
    output_bytes: Annotated[int | None, typer.Option(help="Bytes a job may write to /out.")] = None,
    output_files: Annotated[int | None, typer.Option(help="Files a job may write to /out.")] = None,
    cpus: Annotated[int | None, typer.Option(help="CPU cores per job.")] = None,
    spill_mb: Annotated[int | None, typer.Option(help="DuckDB's spill quota (MB).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the domain's limits.")] = False,
    as_json: Json = False,
) -> None:
    """Show or set a license's sandbox limits (unset ones follow the domain's)."""
    from jobs.license_limits import license_limits, limits_for, set_license_limits

    given = {
        "cpu_seconds": cpu_seconds,
        "wall_seconds": wall_seconds,
        "memory_mb": memory_mb,
        "processes": processes,
        "output_bytes": output_bytes,
        "output_files": output_files,
        "cpus": cpus,
        "spill_mb": spill_mb,
    }
    values = {k: v for k, v in given.items() if v is not None}
    d = domain()
    defaults = d.settings.job_settings().limits
    with d.transaction() as session:
        if values or clear:
            merged = {} if clear else {**license_limits(session, license), **values}
            set_license_limits(session, license, merged, admin())
        data = {
            "license": license,
            "own": license_limits(session, license),
            "effective": limits_for(session, license, defaults).to_dict(),
        }
    emit(data, as_json, lambda r: "\n".join(f"{k}: {v}" for k, v in r["effective"].items()))
