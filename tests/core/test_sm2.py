"""SM2 through GmSSL agrees with OpenSSL 3 both ways; keys round-trip in OpenSSL's formats."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from core.home import Home
from core.sm2 import Sm2KeyError, Sm2PrivateKey, Sm2PublicKey

OPENSSL = shutil.which("openssl")
# OpenSSL 3: SM2 over SM3(Z || message), Z from the default signer id
SM2_OPTIONS = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
MESSAGE = "树头 size=21 root=ab…".encode() * 7


@pytest.fixture
def openssl() -> str:
    assert OPENSSL is not None, "openssl is missing: run scripts/system-deps.sh"
    return OPENSSL


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_a_sluice_signature_verifies_with_openssl(openssl: str, tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    (tmp_path / "pub.pem").write_bytes(key.public.to_pem())
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "sig").write_bytes(key.sign(MESSAGE))
    (tmp_path / "other").write_bytes(MESSAGE + b".")
    verify = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem")]
    good = _run(
        *verify, "-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig"), *SM2_OPTIONS
    )
    assert good.returncode == 0 and "Verified Successfully" in good.stdout, good.stderr
    bad = _run(
        *verify, "-in", str(tmp_path / "other"), "-sigfile", str(tmp_path / "sig"), *SM2_OPTIONS
    )
    assert bad.returncode != 0


def test_an_openssl_signature_verifies_with_sluice(openssl: str, tmp_path: Path) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "pub.pem"
    assert _run(openssl, "genpkey", "-algorithm", "SM2", "-out", str(private)).returncode == 0
    assert (
        _run(openssl, "pkey", "-in", str(private), "-pubout", "-out", str(public)).returncode == 0
    )
    (tmp_path / "msg").write_bytes(MESSAGE)
    signed = _run(
        openssl, "pkeyutl", "-sign", "-inkey", str(private), "-in", str(tmp_path / "msg"),
        "-out", str(tmp_path / "sig"), *SM2_OPTIONS,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    signature = (tmp_path / "sig").read_bytes()
    key = Sm2PublicKey.from_pem(public.read_bytes())
    assert key.verify(signature, MESSAGE)
    assert not key.verify(signature, MESSAGE[:-1])
    # OpenSSL's private key file loads too, and signs what OpenSSL's public key accepts
    ours = Sm2PrivateKey.from_pem(private.read_bytes())
    assert ours.public == key and key.verify(ours.sign(b"x"), b"x")


def test_keys_round_trip_and_other_keys_are_refused(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    assert Sm2PrivateKey.from_pem(key.to_pem()) == key
    assert Sm2PublicKey.from_pem(key.public.to_pem()) == key.public
    home = Home(tmp_path / "home", "gm")
    home.create()
    with pytest.raises(Sm2KeyError):
        Sm2PublicKey.from_pem(home.ed25519_public_key_path.read_bytes())
    with pytest.raises(Sm2KeyError):
        Sm2PrivateKey.from_pem(home.signing_key_path.read_bytes())


def test_the_domain_sm2_key_is_private_and_opens_with_openssl(openssl: str, tmp_path: Path) -> None:
    home = Home(tmp_path / "home", "gm")
    home.create()
    assert home.sm2_key_path.stat().st_mode & 0o777 == 0o600
    assert home.public_key_path == home.sm2_public_key_path
    text = _run(openssl, "pkey", "-in", str(home.sm2_key_path), "-noout", "-text")
    assert text.returncode == 0 and "SM2" in text.stdout, text.stderr
    assert home.sm2_key().public == home.public_key()


def test_wrapped_keys_open_only_with_the_recipient() -> None:
    recipient, stranger = Sm2PrivateKey.generate(), Sm2PrivateKey.generate()
    secret = bytes(range(16))
    wrapped = recipient.public.wrap(secret)
    assert recipient.unwrap(wrapped) == secret
    with pytest.raises(ValueError):
        stranger.unwrap(wrapped)
    changed = bytearray(wrapped)
    changed[-1] ^= 1
    with pytest.raises(ValueError):
        recipient.unwrap(bytes(changed))
