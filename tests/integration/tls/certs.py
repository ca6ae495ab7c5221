"""A test PKI made with the `openssl` command: a CA, a server certificate for 127.0.0.1, a client certificate, an
unrelated CA (to fail verification with), and an htpasswd entry. Keys live in a temporary folder only."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# EC P-256 keys: made in milliseconds, unlike RSA, and accepted by every TLS stack involved.
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
DAYS = "2"


@dataclass(frozen=True)
class Pki:
    folder: Path

    def path(self, name: str) -> str:
        return str(self.folder / name)


def _openssl(*args: str, stdin: str | None = None, cwd: Path) -> str:
    done = subprocess.run(["openssl", *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def _ca(folder: Path, name: str, subject: str) -> None:
    # Strict verifiers (Python 3.13's default X509_STRICT) want a CA with critical basicConstraints and keyUsage.
    _openssl("req", "-x509", *KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", DAYS, "-subj", subject,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=folder)


def _leaf(folder: Path, name: str, subject: str, extensions: str) -> None:
    _openssl("req", *KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=folder)
    (folder / f"{name}.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n" + extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", DAYS, "-extfile", f"{name}.ext", cwd=folder)


def make_pki(folder: Path, user: str, password: str) -> Pki:
    """ca.pem, server.pem/key (127.0.0.1, localhost), client.pem/key, other-ca.pem and htpasswd in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    _ca(folder, "ca", "/CN=nail-os test CA")
    _leaf(folder, "server", "/CN=localhost",
          "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _leaf(folder, "client", "/CN=nail-os test client", "extendedKeyUsage=clientAuth\n")
    _ca(folder, "other-ca", "/CN=some other CA")
    # The password goes through stdin, never a command line another process could read.
    hashed = _openssl("passwd", "-apr1", "-stdin", stdin=password + "\n", cwd=folder).strip()
    (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
    return Pki(folder)
