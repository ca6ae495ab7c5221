"""Run local OpenSearch (or Elasticsearch) nodes: start detached, wait for health, stop, report, tail logs.

A data dir holds one local cluster and everything about it:

    <data_dir>/server.json          what was started: version, URL, and each node's pid and ports
    <data_dir>/node-<i>/config/     opensearch.yml, jvm.options, log4j2.properties (rewritten on each start)
    <data_dir>/node-<i>/data/       path.data
    <data_dir>/node-<i>/logs/       path.logs; nail-os.log is the node's main log
    <data_dir>/node-<i>/console.log the launcher's stdout/stderr: JVM and early start-up errors

OpenSearch refuses to run as root, so when we are root the node runs as the system user `nail-os`
(created on first use) and the data dir is handed to it.

Over 400 lines because starting a node is one sequence (ports, user, config, launch, health, failure report)
whose steps share the data dir's layout above; assembling the distribution is `assemble.py`, the plugin
`plugin.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nail_os.server.assemble import ROOT_HOME, assemble, nail_home
from nail_os.server.config import (
    LOOPBACK,
    NodeSpec,
    check_heap,
    plan_nodes,
    render_elasticsearch_yml,
    render_jvm_options,
    render_log4j2,
    render_opensearch_yml,
)
from nail_os.server.errors import ServerError
from nail_os.server.java import Jdk, select_release
from nail_os.server.plugin import PLUGIN_NAME, install_models, shipped_models, upload_shipped_models, with_plugin
from nail_os.server.releases import OPENSEARCH, Distribution, distribution

NODE_USER = "nail-os"
STATE_FILE = "server.json"
DEFAULT_PORT = 9200
DEFAULT_HEAP = "1g"
# Three nodes of 512 MB fit a 4 GB CI runner beside the tests; OpenSearch's own test clusters use 512m.
DEFAULT_HEAP_MULTI = "512m"
# First start on a 2-core machine: about 20-60 s per node (several JVM launches before the node itself).
DEFAULT_START_TIMEOUT = 180.0
DEFAULT_STOP_TIMEOUT = 60.0
# Nodes this process started: holding the Popen objects lets `stop` reap them (no zombies in a long-lived
# Python, such as a test session) and keeps Popen from warning that its child outlived it.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def default_data_dir(engine: str = "opensearch") -> Path:
    return nail_home() / "data" / engine


def _say(show_progress: bool, message: str) -> None:
    if show_progress:
        print(message, file=sys.stderr, flush=True)


# --- state file ---------------------------------------------------------------------------------------------

def read_state(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ServerError(f"{path} is unreadable ({exc}); stop any node by hand and delete the file") from exc


def _write_state(data_dir: Path, state: dict[str, Any]) -> None:
    tmp = data_dir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(data_dir / STATE_FILE)


# --- processes ----------------------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie child of ours counts as dead, and is reaped)."""
    if pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and someone else's
    with contextlib.suppress(OSError, IndexError):
        # The state letter follows the parenthesised command name, which may itself contain spaces.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def is_node_process(pid: int, node_root: str, main_class: str = OPENSEARCH.main_class) -> bool:
    """`pid` is alive and is the engine process of this node (not a recycled pid after a reboot)."""
    if not pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # no procfs (macOS): trust the pid
        return True
    with contextlib.suppress(OSError):
        args = cmdline.read_bytes().decode(errors="replace").split("\0")
        return main_class in args and any(node_root in arg for arg in args)
    return False


def running_pids(state: dict[str, Any]) -> list[int]:
    main_class = distribution(state.get("engine", "opensearch")).main_class
    return [n["pid"] for n in state.get("nodes", [])
            if n.get("pid") and is_node_process(n["pid"], n["root"], main_class)]


def port_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # OpenSearch binds with SO_REUSEADDR too, so a port in TIME_WAIT after a stop is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _check_ports(specs: Sequence[NodeSpec]) -> None:
    busy = [f"{p} ({kind} of {n.name})" for n in specs
            for p, kind in ((n.http_port, "HTTP"), (n.transport_port, "transport")) if not port_free(p)]
    if busy:
        raise ServerError(f"port(s) {', '.join(busy)} already in use on {LOOPBACK}. Another node? Check with "
                          f"`nail-os server status`, or start on other ports with --port")


# --- the unprivileged user ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    name: str


def node_user() -> RunAs | None:
    """The user the node runs as when we are root (created if missing); None when we are not root."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        entry = pwd.getpwnam(NODE_USER)
        return RunAs(entry.pw_uid, entry.pw_gid, NODE_USER)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    cmd = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", str(ROOT_HOME),
           "--shell", "/usr/sbin/nologin", NODE_USER]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise ServerError(f"OpenSearch refuses to run as root and {useradd} is missing to create user "
                          f"{NODE_USER!r}: create it yourself, or run nail-os as a normal user") from exc
    if out.returncode not in (0, 9):  # 9: created meanwhile by a parallel start
        raise ServerError(f"could not create user {NODE_USER!r} to run OpenSearch (root is refused): "
                          f"{' '.join(cmd)}: {out.stderr.strip()}")
    entry = pwd.getpwnam(NODE_USER)
    return RunAs(entry.pw_uid, entry.pw_gid, NODE_USER)


def _can_enter(path: Path, user: RunAs) -> bool:
    st = path.stat()
    if st.st_uid == user.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == user.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def check_reachable(path: Path, user: RunAs, what: str) -> None:
    """Every folder above `path` can be entered by `user`, or a ServerError naming the one that cannot."""
    for folder in reversed(path.absolute().parents):
        if not _can_enter(folder, user):
            mode = stat.filemode(folder.stat().st_mode)
            raise ServerError(f"{what} {path} is inside {folder} ({mode}), which user {user.name!r} that "
                              f"runs OpenSearch cannot enter. Use a folder outside it (--data-dir, or "
                              f"NAIL_OS_HOME for the cache; the default for root is {ROOT_HOME})")


def _chown_tree(root: Path, user: RunAs) -> None:
    os.chown(root, user.uid, user.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), user.uid, user.gid)


# --- logs ---------------------------------------------------------------------------------------------------

def tail(path: Path, lines: int) -> str:
    """The last `lines` lines of `path` ("" when it does not exist)."""
    if lines <= 0 or not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        block, data = 1 << 16, b""
        while end > 0 and data.count(b"\n") <= lines:
            start = max(0, end - block)
            fh.seek(start)
            data = fh.read(end - start) + data
            end = start
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def node_log(node_root: Path) -> Path:
    """The node's main log, or its console log before logging has started."""
    root = Path(node_root)
    spec = NodeSpec(0, 0, 0, root)
    return spec.server_log if spec.server_log.is_file() else spec.console_log


# Lines that never hold the cause of a failed start: Java stack frames, the JVM's deprecation warnings, and
# the launcher's note that the integ-test distribution has no bundled JDK.
_NOISE = re.compile(r"^(\s+at |\s*\.\.\. \d+ more|WARNING: |warning: no-jdk distributions)")
# In the main log (INFO lines are long and many), only problems.
_PROBLEM = re.compile(r"^\[[^]]*\]\[(ERROR|WARN |FATAL)|^Caused by|^[\w.$]+(Exception|Error): ")


def _failure_report(specs: Sequence[NodeSpec], lines: int = 12) -> str:
    """The last messages of each node's console and problems from its main log, without stack frames."""
    parts = []
    for spec in specs:
        for path, keep in ((spec.console_log, None), (spec.server_log, _PROBLEM)):
            kept = [line for line in tail(path, 400).splitlines()
                    if line.strip() and not _NOISE.match(line) and (keep is None or keep.search(line))]
            if kept:
                parts.append(f"--- {path} (last messages) ---\n" + "\n".join(k[:400] for k in kept[-lines:]))
    return "\n".join(parts) or "(no log output)"


# --- HTTP ---------------------------------------------------------------------------------------------------

def http_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    # urllib, not opensearch-py: status and health must work before the client is configured.
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (our own loopback URL)
        return json.loads(resp.read())


def wait_healthy(url: str, specs: Sequence[NodeSpec], procs: Sequence[subprocess.Popen[bytes]],
                 timeout: float, product: str = "OpenSearch") -> dict[str, Any]:
    """Poll health until yellow/green with every node joined; raise if a node dies or time runs out."""
    deadline = time.monotonic() + timeout
    query = f"/_cluster/health?wait_for_status=yellow&wait_for_nodes={len(specs)}&timeout=5s"
    last_error = "no answer yet"
    while True:
        for spec, proc in zip(specs, procs, strict=True):
            code = proc.poll()
            if code is not None:
                raise ServerError(f"{product} {spec.name} exited with status {code} while starting.\n"
                                  f"{_failure_report(specs)}")
        try:
            health = http_json(url + query, timeout=10)
            if health.get("status") in ("green", "yellow") and health.get("number_of_nodes", 0) >= len(specs):
                return health
            last_error = f"health {health.get('status')}, {health.get('number_of_nodes')} node(s)"
        except urllib.error.HTTPError as exc:  # 408: the wait inside the request timed out
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = str(getattr(exc, "reason", exc))
        if time.monotonic() > deadline:
            raise ServerError(f"{product} at {url} was not healthy within {timeout:.0f} s ({last_error}); "
                              f"it was stopped. A slow machine may need --timeout.\n{_failure_report(specs)}")
        time.sleep(1.0)


# --- start / stop / status / logs ---------------------------------------------------------------------------

def _prepare_node(spec: NodeSpec, cluster: Sequence[NodeSpec], install: Path, heap: str,
                  settings: dict[str, object] | None = None, dist: Distribution = OPENSEARCH) -> None:
    for folder in (spec.root, spec.config_dir, spec.data_path, spec.logs_path, spec.tmp_path):
        folder.mkdir(parents=True, exist_ok=True)
    shipped = install / "config"
    render = render_elasticsearch_yml if dist.engine == "elasticsearch" else render_opensearch_yml
    (spec.config_dir / dist.settings_file).write_text(render(spec, list(cluster), settings))
    (spec.config_dir / "jvm.options").write_text(
        render_jvm_options((shipped / "jvm.options").read_text(), spec, heap))
    (spec.config_dir / "log4j2.properties").write_text(
        render_log4j2((shipped / "log4j2.properties").read_text()))
    (spec.config_dir / "jvm.options.d").mkdir(exist_ok=True)
    for extra in shipped.iterdir():  # e.g. fips_java.security in 3.x
        target = spec.config_dir / extra.name
        if extra.is_file() and not target.exists():
            shutil.copyfile(extra, target)


def _node_env(spec: NodeSpec, jdk: Jdk, dist: Distribution = OPENSEARCH) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_TOOL_OPTIONS", "JAVA_OPTS")}
    env.update({dist.java_home_var: str(jdk.home), dist.conf_var: str(spec.config_dir),
                dist.tmp_var: str(spec.tmp_path), "HOME": str(spec.root)})
    return env


def _launch(spec: NodeSpec, install: Path, jdk: Jdk, user: RunAs | None,
            dist: Distribution = OPENSEARCH) -> subprocess.Popen[bytes]:
    if spec.console_log.exists():  # keep the previous start's output, so a failure report shows only this one
        spec.console_log.replace(spec.console_log.with_name("console.log.1"))
    with spec.console_log.open("wb") as console:
        if user:
            os.chown(spec.console_log, user.uid, user.gid)
        # A new session: the node outlives this process and its terminal (no SIGHUP on logout).
        return subprocess.Popen(
            [str(install / "bin" / dist.launcher)], cwd=install, env=_node_env(spec, jdk, dist),
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
            **({"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}))


def _terminate(pids: Sequence[int], timeout: float) -> None:
    """SIGTERM (OpenSearch shuts down cleanly on it), then SIGKILL whatever is left after `timeout`."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        alive = [pid for pid in pids if pid_alive(pid)]
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            except PermissionError as exc:
                owner = Path(f"/proc/{pid}").stat().st_uid if Path(f"/proc/{pid}").exists() else "?"
                raise ServerError(f"not allowed to stop OpenSearch pid {pid} (it runs as uid {owner}); "
                                  f"stop it as the user that started it, or as root") from exc
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [pid for pid in alive if pid_alive(pid)]
        if not alive:
            for pid in pids:
                child = _CHILDREN.pop(pid, None)
                if child:
                    with contextlib.suppress(ChildProcessError):
                        child.wait(timeout=5)
            return
    raise ServerError(f"OpenSearch pid(s) {', '.join(map(str, pids))} survived SIGKILL")


def start_cluster(version: str | None = None, port: int = DEFAULT_PORT, heap: str | None = None,
                  data_dir: Path | None = None, nodes: int = 1, timeout: float = DEFAULT_START_TIMEOUT,
                  show_progress: bool = False, settings: dict[str, object] | None = None,
                  engine: str = "opensearch", plugin: bool = True) -> str:
    """Start `nodes` local nodes of `engine` on `data_dir` and return the URL once the cluster is healthy.

    `plugin`: run the nail plugin (built and installed into a copy of the node on first use), where it targets
    this version and can be built; the shipped models are uploaded through its REST API once the cluster is
    healthy (OpenSearch), or copied into each node's config/nail/models/ (Elasticsearch).
    """
    dist = distribution(engine)
    data_dir = (data_dir or default_data_dir(dist.engine)).absolute()
    state = read_state(data_dir)
    if state and running_pids(state):
        if state.get("engine", "opensearch") != dist.engine:
            raise ServerError(f"{data_dir} already runs {state.get('engine', 'opensearch')} at {state['url']}; "
                              f"stop it or give {dist.product} another --data-dir")
        if state.get("url") != f"http://{LOOPBACK}:{port}" or len(state.get("nodes", [])) != nodes:
            _say(True, f"nail-os: a cluster is already running on {data_dir} at {state['url']}; "
                       f"--port/--nodes of this call are ignored (stop it first to change them)")
        return str(state["url"])
    heap = check_heap(heap or (DEFAULT_HEAP if nodes == 1 else DEFAULT_HEAP_MULTI))
    specs = plan_nodes(data_dir, port, nodes)
    _check_ports(specs)
    release, jdk = select_release(version, engine=dist.engine)
    install = assemble(release, jdk, show_progress=show_progress)
    if plugin:
        install = with_plugin(install, release.version, jdk, show_progress, engine=dist.engine)
    user = node_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    with_nail = (install / "plugins" / PLUGIN_NAME).is_dir()
    for spec in specs:
        _prepare_node(spec, specs, install, heap, settings, dist)
        if with_nail and dist.engine == "elasticsearch":  # its plugin reads model folders only
            install_models(spec.config_dir, shipped_models())
    if user:
        for path, what in ((install / "bin" / dist.launcher, f"the {dist.product} install"),
                           (jdk.java, "the JDK"), (data_dir / "node-0", "the data dir")):
            check_reachable(path, user, what)
        _chown_tree(data_dir, user)
    url = f"http://{LOOPBACK}:{specs[0].http_port}"
    _say(show_progress, f"starting {dist.product} {release.version} ({nodes} node(s), Java {jdk.major} at "
                        f"{jdk.home}, heap {heap}{f', as user {user.name}' if user else ''}) at {url}")
    started = time.monotonic()
    procs: list[subprocess.Popen[bytes]] = []
    new_state: dict[str, Any] = {
        "engine": dist.engine, "version": release.version, "url": url, "java_home": str(jdk.home),
        "heap": heap, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nodes": []}
    try:
        for spec in specs:
            proc = _launch(spec, install, jdk, user, dist)
            procs.append(proc)
            _CHILDREN[proc.pid] = proc
            new_state["nodes"].append({"name": spec.name, "pid": proc.pid, "http_port": spec.http_port,
                                       "transport_port": spec.transport_port, "root": str(spec.root)})
            _write_state(data_dir, new_state)  # at once, so `stop` finds a node even if we are interrupted
        wait_healthy(url, specs, procs, timeout, dist.product)
    except BaseException:
        _terminate([p.pid for p in procs], timeout=20.0)
        raise
    elapsed = time.monotonic() - started
    _say(show_progress, f"{dist.product} {release.version} healthy at {url} after {elapsed:.0f} s")
    if with_nail and dist.engine == "opensearch":
        # Through the plugin's REST API, as a user uploads a model: one upload reaches every node.
        try:
            names = upload_shipped_models(url)
            _say(show_progress, f"uploaded model(s) {', '.join(names)} for the nail query")
        except ServerError as exc:  # the node runs; `nail` queries naming the model will say it is unknown
            print(f"nail-os: {exc}", file=sys.stderr, flush=True)
    return url


def stop_cluster(data_dir: Path | None = None, timeout: float = DEFAULT_STOP_TIMEOUT) -> bool:
    """Stop the nodes of `data_dir`; True if any was running."""
    data_dir = (data_dir or default_data_dir()).absolute()
    state = read_state(data_dir)
    if not state:
        return False
    pids = running_pids(state)
    _terminate(pids, timeout)
    for node in state.get("nodes", []):
        node["pid"] = None
    state["stopped_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write_state(data_dir, state)
    return bool(pids)


def cluster_status(data_dir: Path | None = None) -> dict[str, Any]:
    """running, url, version, pid (of node-0), pids, nodes, health, data_dir, log."""
    data_dir = (data_dir or default_data_dir()).absolute()
    state = read_state(data_dir) or {}
    pids = running_pids(state) if state else []
    nodes = state.get("nodes", [])
    info: dict[str, Any] = {
        "running": bool(pids), "url": state.get("url") if pids else None, "version": state.get("version"),
        "pid": pids[0] if pids else None, "pids": pids, "nodes": len(nodes), "health": None,
        "data_dir": str(data_dir), "log": str(node_log(Path(nodes[0]["root"]))) if nodes else None}
    if pids:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            info["health"] = http_json(state["url"] + "/_cluster/health")["status"]
        # Elasticsearch's integ-test zip has no `GET /` (its rest-root module is not in it): ask the nodes API.
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError, KeyError, StopIteration):
            nodes_info = http_json(state["url"] + "/_nodes/_local?filter_path=nodes.*.version")["nodes"]
            info["version"] = next(iter(nodes_info.values()))["version"]
    return info


def read_logs(data_dir: Path | None = None, lines: int = 50, node: int = 0) -> str:
    """The last `lines` lines of node `node`'s log."""
    data_dir = (data_dir or default_data_dir()).absolute()
    root = data_dir / f"node-{node}"
    if not root.is_dir():
        raise ServerError(f"no node-{node} in {data_dir}: nothing was started there (nail-os server start)")
    return tail(node_log(root), lines)
