"""nginx from the distribution's package, run in the foreground on loopback ports with the rendered config."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
# Debian's smallest nginx build with the ssl module; `scripts/setup` installs it on CI.
APT_PACKAGE = "nginx-light"


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def install_nginx() -> str:
    """nginx, installed with apt-get when missing and we are root; RuntimeError with the command otherwise."""
    found = find_nginx()
    if found:
        return found
    hint = f"the TLS tests need nginx: apt-get install -y {APT_PACKAGE} (scripts/setup does this)"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(hint)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", APT_PACKAGE]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"{hint}\n{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    found = find_nginx()
    if not found:
        raise RuntimeError(hint)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx:
    """nginx serving `basic_port` (https + basic auth) and `mtls_port` (https + client certificate)."""

    def __init__(self, binary: str, folder: Path, upstream: str) -> None:
        self.folder, self.basic_port, self.mtls_port = folder, free_port(), free_port()
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / temp).mkdir(exist_ok=True)
        # As root the workers would switch to `nobody`, who cannot read the htpasswd in a private temp folder.
        user_line = "user root;" if os.geteuid() == 0 else ""
        conf = Template(TEMPLATE.read_text()).substitute(
            user_line=user_line, dir=folder, upstream=upstream, basic_port=self.basic_port, mtls_port=self.mtls_port)
        (folder / "nginx.conf").write_text(conf)
        self.process = subprocess.Popen([binary, "-c", str(folder / "nginx.conf"), "-p", str(folder)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def url(self, scheme: str = "https", port: int | None = None) -> str:
        return f"{scheme}://127.0.0.1:{port or self.basic_port}"

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}: "
                                   f"{self.process.stderr.read().decode(errors='replace')[-1000:]}")  # type: ignore[union-attr]
            try:
                context = ssl.create_default_context(cafile=str(self.folder / "ca.pem"))
                with socket.create_connection(("127.0.0.1", self.basic_port), timeout=2) as raw:
                    with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not accept TLS on port {self.basic_port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
