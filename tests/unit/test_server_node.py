"""Process and file helpers of the local node, and the `server` CLI without a node."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from nail_os.cli.server import server
from nail_os.server import ServerError
from nail_os.server.node import RunAs, check_reachable, pid_alive, port_free, tail


def test_tail_returns_the_last_lines(tmp_path):
    log = tmp_path / "nail-os.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert tail(log, 2) == "line 99998\nline 99999"
    assert tail(tmp_path / "missing.log", 5) == ""


def test_a_dead_child_is_not_alive_even_before_it_is_reaped():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    while proc.poll() is None and pid_alive(proc.pid):
        pass
    assert not pid_alive(proc.pid)
    assert pid_alive(os.getpid())


def test_a_bound_port_is_not_free():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_free(sock.getsockname()[1])


@pytest.fixture()
def open_tmp():
    # pytest's tmp_path lies under /tmp/pytest-of-<user>, itself 0700: nobody else could enter any of it.
    path = Path(tempfile.mkdtemp(prefix="nail-os-unit-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_folder_the_node_user_cannot_enter_is_named(open_tmp):
    private = open_tmp / "private"
    (private / "data").mkdir(parents=True)
    private.chmod(0o700)
    stranger = RunAs(uid=os.getuid() + 4242, gid=os.getgid() + 4242, name="nail-os")
    with pytest.raises(ServerError, match=rf"the data dir {private}/data is inside {private} \(drwx------\)"):
        check_reachable(private / "data", stranger, "the data dir")
    private.chmod(0o711)
    check_reachable(private / "data", stranger, "the data dir")


def test_status_of_a_data_dir_that_never_ran(tmp_path):
    result = CliRunner().invoke(server, ["status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "not running"


def test_stop_when_nothing_runs(tmp_path):
    result = CliRunner().invoke(server, ["stop", "--data-dir", str(tmp_path)])
    assert (result.exit_code, result.output) == (0, "not running\n")


def test_logs_of_nothing_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(server, ["logs", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"no node-0 in {tmp_path}" in result.output


def test_a_bad_heap_fails_before_anything_is_fetched(tmp_path):
    result = CliRunner().invoke(server, ["start", "--heap", "lots", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "heap 'lots' is not a JVM size" in result.output
    assert not list(Path(tmp_path).iterdir())


@pytest.mark.parametrize("command", ["start", "stop", "status", "logs"])
def test_help_ends_with_an_example(command):
    result = CliRunner().invoke(server, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:\n    nail-os server " in result.output


def test_the_cli_module_imports_nothing_of_the_server_package():
    code = "import sys, nail_os.cli.server; print(any(m.startswith('nail_os.server') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
