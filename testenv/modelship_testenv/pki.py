"""Certificates for the local control plane, made with the openssl command line.

A private CA signs the API server's serving certificate (so clients verify it)
and an admin client certificate in group system:masters (so no token file is
needed); one RSA key signs and verifies service-account tokens.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class PKIError(RuntimeError):
    pass


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise PKIError("the openssl command is missing (apt-get install openssl)")
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise PKIError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _signed(cwd: Path, name: str, subject: str, extensions: str) -> None:
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        subject,
        cwd=cwd,
    )
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        f"{name}.crt",
        "-days",
        "3650",
        "-extfile",
        f"{name}.ext",
        cwd=cwd,
    )


def ensure_pki(directory: Path) -> Path:
    """Create the CA, serving, admin and service-account keys once; reuse them after."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "admin.crt").exists():
        return directory
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/CN=modelship-dev-ca",
        cwd=directory,
    )
    _signed(
        directory,
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
        "extendedKeyUsage=serverAuth\n",
    )
    _signed(
        directory, "admin", "/O=system:masters/CN=modelship-admin", "extendedKeyUsage=clientAuth\n"
    )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return directory


def serving_cert(directory: Path, name: str, dns_names: list[str]) -> tuple[Path, Path]:
    """A serving certificate for ``dns_names`` (and 127.0.0.1) signed by the CA of
    ``ensure_pki(directory)``; (certificate, key), made once."""
    ensure_pki(directory)
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    if not crt.exists():
        sans = ",".join([*(f"DNS:{d}" for d in dns_names), "IP:127.0.0.1"])
        _signed(
            directory,
            name,
            f"/CN={dns_names[0]}",
            f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n",
        )
    return crt, key


def client_cert(directory: Path, name: str, user: str, groups: list[str]) -> tuple[Path, Path]:
    """A client certificate for ``user`` in ``groups`` signed by the CA of
    ``ensure_pki(directory)``; (certificate, key), made once. The API server takes the
    CN as the user name and each O as a group, so a process given this certificate is
    told apart from the admin (RBAC, API Priority and Fairness FlowSchemas)."""
    ensure_pki(directory)
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    if not crt.exists():
        subject = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        _signed(directory, name, subject, "extendedKeyUsage=clientAuth\n")
    return crt, key
