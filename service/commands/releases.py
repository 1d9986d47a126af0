"""`sluice releases`: verify and open release packages (offline), show a release, and
register the operators' delivery keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import InvalidInput, NotFound
from service.commands.common import Json, admin, domain
from service.output import emit, emit_rows, handles_errors

releases_app = typer.Typer(no_args_is_help=True, help="Release packages (出域数据包).")
keys_app = typer.Typer(no_args_is_help=True, help="Operators' delivery keys.")
releases_app.add_typer(keys_app, name="keys")

Package = Annotated[Path, typer.Argument(help="A release package (.zip).")]
PublicKey = Annotated[
    Path | None,
    typer.Option("--pubkey", help="The domain's public key (PEM); default: this domain's."),
]
VERIFY_FAILED = 10


def _domain_key(pubkey: Path | None) -> Any:
    """The verifying key: a file given offline, else the local domain's own."""
    from core.home import load_public_key

    if pubkey is None:
        try:
            return domain().home.public_key()
        except NotFound:
            raise InvalidInput.coded("cli_no_domain_for_key") from None
    try:
        return load_public_key(pubkey.read_bytes())
    except OSError:
        raise InvalidInput.coded("cli_pubkey_unreadable", path=str(pubkey)) from None
    except ValueError:
        raise InvalidInput.coded("cli_pubkey_form", path=str(pubkey)) from None


def _summary(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    if manifest is None:
        return None
    keys = ("job", "license", "operator", "datasets", "dataset_versions", "policy_version")
    summary = {k: manifest.get(k) for k in keys}
    summary["reviewers"] = manifest.get("reviewers")
    summary["files"] = sorted(manifest.get("files", {}))
    summary["encryption"] = (manifest.get("encryption") or {}).get("cipher")
    return summary


@releases_app.command("verify")
@handles_errors("releases.verify")
def releases_verify(package: Package, pubkey: PublicKey = None, as_json: Json = False) -> None:
    """Check a package's signature and every byte, offline with the domain's public key."""
    from products.package import verify_package

    result = verify_package(package, _domain_key(pubkey))
    data = {"ok": result.ok, "problems": result.problems, "manifest": _summary(result.manifest)}
    emit(
        data,
        as_json,
        lambda r: (
            f"ok: job {r['manifest']['job']}, {len(r['manifest']['files'])} file(s), "
            f"signed by the domain"
            if r["ok"]
            else "FAILED:\n" + "\n".join(f"  - {p}" for p in r["problems"])
        ),
    )
    if not result.ok:
        raise typer.Exit(VERIFY_FAILED)


@releases_app.command("open")
@handles_errors("releases.open")
def releases_open(
    package: Package,
    out: Annotated[Path, typer.Option(help="An empty or new folder for the files.")],
    key: Annotated[Path | None, typer.Option(help="Your X25519 private key (PEM).")] = None,
    pubkey: PublicKey = None,
    as_json: Json = False,
) -> None:
    """Verify a package, then write its files (decrypted with your key if encrypted)."""
    from products.crypto import load_private_key, open_package

    private = load_private_key(key.read_bytes()) if key is not None else None
    manifest, files = open_package(package, _domain_key(pubkey), private)
    if out.exists() and any(out.iterdir()):
        raise InvalidInput.coded("cli_out_not_empty", path=str(out))
    root = out.resolve()
    for name, data in files.items():
        target = (root / name).resolve()
        if root not in target.parents:
            raise InvalidInput.coded("cli_write_outside", name=name, path=str(out))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    written = {"job": manifest.get("job"), "files": sorted(files), "out": str(out)}
    emit(written, as_json, f"wrote {len(files)} file(s) to {out}")


@releases_app.command("show")
@handles_errors("releases.show")
def releases_show(
    release_id: Annotated[
        int, typer.Argument(help="The release's id (see `sluice releases list`).")
    ],
    as_json: Json = False,
) -> None:
    """Show a release: its package, digest, files and manifest."""
    from products.release import get_release

    with domain().transaction() as session:
        release = get_release(session, release_id)
        data = {**release.to_dict(), "manifest": release.manifest}
    emit(data, as_json, lambda r: f"release {r['id']} of job {r['job_id']}: {r['package']}")


@releases_app.command("list")
@handles_errors("releases.list")
def releases_list(as_json: Json = False) -> None:
    """List releases: job, package, files, withheld files, encryption, time."""
    from products.release import list_releases

    with domain().transaction() as session:
        data = [r.to_dict() for r in list_releases(session)]
    columns = [
        ("id", "release"),
        ("job_id", "job"),
        ("files", "files"),
        ("withheld", "withheld"),
        ("encryption", "encryption"),
        ("at", "released (UTC)"),
    ]
    emit_rows(data, as_json, columns, "nothing released yet")


@releases_app.command("keygen")
@handles_errors("releases.keygen")
def releases_keygen(
    out: Annotated[Path, typer.Option(help="Writes OUT.key (private, 0600) and OUT.pub.")],
    kind: Annotated[
        str, typer.Option("--type", help="x25519, or sm2 for the 国密 suite (with SM4-GCM).")
    ] = "x25519",
    as_json: Json = False,
) -> None:
    """Make an operator's key pair (X25519 or SM2), outside the domain; register only the .pub."""
    from products.crypto import generate_operator_key

    private_pem, public_pem = generate_operator_key(kind)
    private_path, public_path = out.with_suffix(".key"), out.with_suffix(".pub")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)
    data = {"private_key": str(private_path), "public_key": str(public_path)}
    emit(data, as_json, f"private key {private_path} (keep it); public key {public_path}")


@keys_app.command("add")
@handles_errors("releases.keys.add")
def keys_add(
    operator: Annotated[str, typer.Option(help="The operating company's name.")],
    key: Annotated[Path, typer.Option(help="The operator's X25519 public key (PEM).")],
    cipher: Annotated[str, typer.Option(help="AES-256-GCM or SM4-GCM.")] = "AES-256-GCM",
    as_json: Json = False,
) -> None:
    """Register an operator's delivery key: its later releases are encrypted to it."""
    from products.recipients import register_key

    try:
        pem = key.read_bytes()
    except OSError:
        raise InvalidInput.coded("cli_key_unreadable", path=str(key)) from None
    with domain().transaction() as session:
        data = register_key(session, operator, pem, admin(), cipher).to_dict()
    emit(data, as_json, f"{operator}: key {data['fingerprint'][:16]}… ({data['cipher']})")


@keys_app.command("list")
@handles_errors("releases.keys.list")
def keys_list(as_json: Json = False) -> None:
    """List operators' delivery keys: fingerprint, cipher, active or retired."""
    from operators.records import Operator
    from products.recipients import list_keys

    with domain().transaction() as session:
        names = {o.id: o.name for o in session.query(Operator)}
        data = [{**k.to_dict(), "operator": names.get(k.operator_id)} for k in list_keys(session)]
    columns = [
        ("operator", "company"),
        ("fingerprint", "fingerprint"),
        ("cipher", "cipher"),
        ("active", "active"),
    ]
    emit_rows(data, as_json, columns, "no keys registered")
