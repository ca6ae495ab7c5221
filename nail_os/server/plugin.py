"""The nail plugin (`plugin/` for OpenSearch, `plugin/elasticsearch/` for Elasticsearch 8): build its zip with
Maven, install it into a copy of the local node.

    <home>/plugin/build-<hash>/                      a copy of plugin/ that mvn builds in (target/ stays there)
    <home>/plugin/nail-os-plugin-<version>-<hash>.zip  the built zip, cached by plugin version + source hash
    <home>/opensearch/<os version>-nail-plugin-<version>-<hash>/   the assembled node plus plugins/nail/
    <home>/plugin/nail-es-plugin-<version>-<hash>.zip, <home>/elasticsearch/<es version>-nail-plugin-...: the same
        for Elasticsearch, whose module compiles the OpenSearch plugin's engine-free files (tokenizer, models)

The assembled distribution (`assemble.py`) is shared by every node of this machine and never changed: the
plugin goes into a copy of it (hard links, so it costs no disk), made once under a lock and renamed into
place, like the assembly itself. `pom.xml` is the one place that names the plugin's and OpenSearch's versions.
Models reach an OpenSearch node through the plugin's REST API: `nail-os server start` uploads the shipped
models once the cluster is healthy (`upload_shipped_models`), so every node answers with them. Elasticsearch
has no such API in this plugin: `install_models` copies a model's tokenizer.json and query_weights.json into
`<node config>/nail/models/<name>/`, where its plugin reads them (and `install_plugin` does so for a user's
own OpenSearch folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nail_os.server.assemble import MARKER, lock, nail_home, run_mvn
from nail_os.server.errors import ServerError
from nail_os.server.java import Jdk

if TYPE_CHECKING:
    from nail_os.engines import Client

# The source tree beside the package in a checkout (`pip install -e .`, CI); a wheel does not carry it.
PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "plugin"
PLUGIN_NAME = "nail"  # plugin-descriptor.properties `name`: the folder under plugins/
# Each engine's Maven module, under PLUGIN_SOURCE, and the pom property naming the engine version it targets.
ENGINE_MODULES = {"opensearch": ".", "elasticsearch": "elasticsearch"}
MODEL_FILES = ("tokenizer.json", "query_weights.json")
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@dataclass(frozen=True)
class PluginSource:
    """The plugin sources, with the versions their pom.xml pins and a hash of what a build reads."""

    root: Path  # the plugin/ tree (the Elasticsearch module lives inside it and reads its src/main)
    version: str
    engine_version: str  # the only OpenSearch / Elasticsearch version the zip loads into
    java_release: int
    digest: str  # first 12 hex of a SHA-1 over the pom.xml and src/main folders a build reads
    engine: str = "opensearch"
    artifact: str = "nail-os-plugin"  # pom artifactId: the zip is target/<artifact>-<version>.zip

    @property
    def opensearch_version(self) -> str:
        return self.engine_version

    @property
    def module(self) -> Path:
        """The folder mvn runs in."""
        return self.root / ENGINE_MODULES[self.engine]

    @property
    def zip_name(self) -> str:
        return f"{self.artifact}-{self.version}-{self.digest}.zip"


def plugin_source(root: Path | None = None, engine: str = "opensearch") -> PluginSource:
    """Read the pom.xml of `engine`'s module under `root` (default: the checkout's plugin/) for versions, and
    hash the build's inputs."""
    root = root or PLUGIN_SOURCE
    if engine not in ENGINE_MODULES:
        raise ServerError(f"no nail plugin for engine {engine!r}; there is one for: {', '.join(ENGINE_MODULES)}")
    module = root / ENGINE_MODULES[engine]
    pom = module / "pom.xml"
    if not pom.is_file():
        raise ServerError(f"no plugin sources at {module}: the plugin is built from a nail-os checkout "
                          f"(git clone, then pip install -e .)")
    tree = ET.parse(pom).getroot()
    version = tree.findtext("m:version", namespaces=_POM_NS)
    artifact = tree.findtext("m:artifactId", namespaces=_POM_NS)
    props = tree.find("m:properties", _POM_NS)
    key = f"{engine}.version"
    engine_version = props.findtext(f"m:{key}", namespaces=_POM_NS) if props is not None else None
    java = props.findtext("m:java.release", namespaces=_POM_NS) if props is not None else None
    if not version or not artifact or not engine_version or not java:
        raise ServerError(f"{pom}: <artifactId>, <version>, <{key}> and <java.release> must all be set")
    digest = hashlib.sha1()
    inputs = {pom, *(p for p in (module / "src" / "main").rglob("*") if p.is_file()),
              *(p for p in (root / "src" / "main").rglob("*") if p.is_file())}  # shared sources, for Elasticsearch
    for path in sorted(inputs):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return PluginSource(root, version, engine_version, int(java), digest.hexdigest()[:12], engine, artifact)


def _say(show_progress: bool, message: str) -> None:
    if show_progress:
        print(message, file=sys.stderr, flush=True)


def build_plugin(jdk: Jdk, source: PluginSource | None = None, home: Path | None = None,
                 show_progress: bool = False) -> Path:
    """The plugin zip for `source`, built by mvn on `jdk` on first use (cached by version and source hash).

    >>> build_plugin(jdk)  # doctest: +SKIP
    PosixPath('/var/lib/nail-os/plugin/nail-os-plugin-0.1.0-3f2a9c1d0b7e.zip')
    """
    source = source or plugin_source()
    if jdk.major < source.java_release:
        raise ServerError(f"the plugin is compiled for Java {source.java_release}, but the JDK at {jdk.home} is "
                          f"Java {jdk.major}; install a JDK {source.java_release}+ (apt-get install "
                          f"openjdk-{source.java_release}-jdk-headless)")
    home = home or nail_home()
    out_dir = home / "plugin"
    target = out_dir / source.zip_name
    if target.is_file():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    with lock(out_dir / f".{source.digest}.lock"):
        if target.is_file():
            return target
        build = out_dir / f"build-{source.digest}"
        shutil.rmtree(build, ignore_errors=True)
        shutil.copytree(source.root, build, ignore=shutil.ignore_patterns("target"))
        _say(show_progress, f"building the nail plugin {source.version} for {source.engine} with mvn (first run "
                            f"only)")
        started = time.monotonic()
        module = build / ENGINE_MODULES[source.engine]
        # Tests run in the test suite (tests/integration/test_plugin.py), not on every build.
        run_mvn(["-DskipTests", "package"], home / "maven", jdk, f"the nail plugin ({module})", cwd=module,
                compile_with_jdk=True)
        built = module / "target" / f"{source.artifact}-{source.version}.zip"
        if not built.is_file():
            raise ServerError(f"mvn reported success but {built} is missing")
        partial = target.with_name(target.name + f".partial-{os.getpid()}")
        shutil.copyfile(built, partial)
        os.chmod(partial, 0o644)
        partial.rename(target)
        _say(show_progress, f"built {target} ({time.monotonic() - started:.0f} s)")
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a real copy
        shutil.copy2(src, dst)


def install_into_copy(install: Path, zip_path: Path, source: PluginSource, show_progress: bool = False) -> Path:
    """A copy of the assembled node `install` with the plugin unpacked into plugins/nail/, as
    `bin/opensearch-plugin install file://<zip>` lays it out; made once, then reused."""
    dest = install.with_name(f"{install.name}-nail-plugin-{source.version}-{source.digest}")
    if (dest / MARKER).is_file():
        return dest
    with lock(install.parent / f".{dest.name}.lock"):
        if (dest / MARKER).is_file():
            return dest
        staging = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            # The copy shares the distribution's files (the node never writes into its install folder).
            shutil.copytree(install, staging, copy_function=_link_or_copy, symlinks=True)
            (staging / MARKER).unlink()  # written again below, last, once the plugin is in place
            plugin_dir = staging / "plugins" / PLUGIN_NAME
            plugin_dir.mkdir(parents=True)
            with zipfile.ZipFile(zip_path) as archive:
                for info in archive.infolist():
                    name = Path(info.filename)
                    if name.is_absolute() or ".." in name.parts:
                        raise ServerError(f"{zip_path}: entry {info.filename!r} points outside the plugin folder")
                    archive.extract(info, plugin_dir)
            for path in [plugin_dir, *plugin_dir.rglob("*")]:
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
            marker = json.loads((install / MARKER).read_text())
            marker["plugin"] = {"name": PLUGIN_NAME, "version": source.version, "source_digest": source.digest,
                                "zip": str(zip_path)}
            (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            os.chmod(staging / MARKER, 0o644)
            shutil.rmtree(dest, ignore_errors=True)
            staging.rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _say(show_progress, f"the nail plugin {source.version} is installed in {dest}")
    return dest


def with_plugin(install: Path, engine_version: str, jdk: Jdk, show_progress: bool = False,
                engine: str = "opensearch") -> Path:
    """The node folder to run: `install` plus the plugin, or `install` itself (with a note on stderr) when
    the plugin does not target this version or cannot be built here."""
    try:
        source = plugin_source(engine=engine)
    except ServerError as exc:
        _say(show_progress, f"nail-os: running without the nail plugin: {exc}")
        return install
    if source.engine_version != engine_version:
        _say(show_progress, f"nail-os: the nail plugin is built for {engine} {source.engine_version}, not "
                            f"{engine_version}; this node runs without it")
        return install
    try:
        return install_into_copy(install, build_plugin(jdk, source, show_progress=show_progress), source,
                                 show_progress)
    except ServerError as exc:
        print(f"nail-os: the nail plugin could not be built, so this node runs without it: {exc}",
              file=sys.stderr, flush=True)
        return install


def install_models(config_dir: Path, model_dirs: Iterable[Path]) -> list[str]:
    """Copy each model's tokenizer.json and query_weights.json into `<config_dir>/nail/models/<name>/`."""
    names = []
    for model_dir in model_dirs:
        target = config_dir / PLUGIN_NAME / "models" / model_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for name in MODEL_FILES:
            if (model_dir / name).is_file():
                partial = target / f".{name}.partial"
                shutil.copyfile(model_dir / name, partial)
                partial.replace(target / name)  # a node reading the model never sees half a file
        names.append(model_dir.name)
    return names


def shipped_models() -> list[Path]:
    """The model folders in nail_os/checkpoints that have a tokenizer (nail-minilm)."""
    from nail_os.registry import CHECKPOINTS

    return sorted(p for p in CHECKPOINTS.iterdir() if (p / "tokenizer.json").is_file()) if CHECKPOINTS.is_dir() \
        else []


def plugin_status(home: Path | None = None, engine: str = "opensearch") -> dict[str, object]:
    """What `nail-os plugin status` prints: source versions, the cached zip (if built), installed copies."""
    home = home or nail_home()
    info: dict[str, object] = {"engine": engine, "source": str(PLUGIN_SOURCE), "version": None,
                               f"{engine}_version": None, "zip": None, "installed": []}
    try:
        source = plugin_source(engine=engine)
    except ServerError as exc:
        info["error"] = str(exc)
        return info
    zip_path = home / "plugin" / source.zip_name
    info.update({"source": str(source.module), "version": source.version, f"{engine}_version": source.engine_version,
                 "digest": source.digest, "zip": str(zip_path) if zip_path.is_file() else None,
                 "install_command": f"bin/{engine}-plugin install file://{zip_path}"})
    engine_dir = home / engine
    info["installed"] = sorted(str(p) for p in engine_dir.glob(f"*-nail-plugin-{source.version}-{source.digest}")
                               if (p / MARKER).is_file()) if engine_dir.is_dir() else []
    return info


def install_plugin(engine_home: Path, jdk: Jdk, zip_path: Path | None = None,
                   model_dirs: Iterable[Path] | None = None, engine: str = "opensearch") -> Path:
    """Install the plugin into an OpenSearch (Elasticsearch) folder of this machine with its own
    `bin/opensearch-plugin` (`bin/elasticsearch-plugin`), and copy `model_dirs` (default: the shipped models) into
    its config/nail/models/. Returns the zip installed.

    For a cluster on other machines, copy the zip there and run the command `plugin_status()` prints.
    """
    import subprocess

    from nail_os.server.releases import distribution

    dist = distribution(engine)
    tool = engine_home / "bin" / f"{engine}-plugin"
    if not tool.is_file():
        raise ServerError(f"{tool} does not exist: --{engine}-home must be an {dist.product} folder (with bin/)")
    zip_path = zip_path or build_plugin(jdk, plugin_source(engine=engine))
    env = {**os.environ, dist.java_home_var: str(jdk.home)}
    if (engine_home / "plugins" / PLUGIN_NAME).exists():  # replace an older build
        subprocess.run([str(tool), "remove", PLUGIN_NAME], env=env, capture_output=True, text=True, check=False)
    out = subprocess.run([str(tool), "install", "--batch", f"file://{zip_path}"], env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise ServerError(f"{tool} install file://{zip_path} failed (exit {out.returncode}):\n"
                          f"{(out.stdout + out.stderr).strip()[-2000:]}")
    install_models(engine_home / "config", shipped_models() if model_dirs is None else model_dirs)
    return zip_path


# --- models stored in the cluster (the plugin's REST API) -----------------------------------------------------

MODELS_PATH = "/_plugins/nail/models"


def model_body(model_dir: Path) -> dict[str, Any]:
    """The body of `PUT _plugins/nail/models/<name>`: a model folder's tokenizer.json and query_weights.json."""
    body: dict[str, Any] = {"tokenizer": json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))}
    if (model_dir / "query_weights.json").is_file():
        body["query_weights"] = json.loads((model_dir / "query_weights.json").read_text(encoding="utf-8"))
    return body


def upload_model(client: Client, name: str, model_dir: Path) -> dict[str, Any]:
    """PUT a model folder's tokenizer.json and query_weights.json to the cluster as `name`: every node's `nail`
    query can then use `"model": name`. Replaces an earlier upload of that name in one step."""
    return client.transport.perform_request("PUT", f"{MODELS_PATH}/{name}", body=model_body(model_dir))


def upload_shipped_models(url: str, model_dirs: Iterable[Path] | None = None, timeout: float = 120.0) -> list[str]:
    """PUT each shipped model to the local cluster at `url` under its folder name, with urllib (the server
    package does not import opensearch-py). Raises ServerError with the node's answer when one is refused."""
    import urllib.error
    import urllib.request

    names = []
    for model_dir in shipped_models() if model_dirs is None else model_dirs:
        request = urllib.request.Request(f"{url}{MODELS_PATH}/{model_dir.name}", method="PUT",
                                         data=json.dumps(model_body(model_dir)).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 (our own loopback URL)
                pass
        except urllib.error.HTTPError as exc:
            raise ServerError(f"uploading model {model_dir.name} to {url}{MODELS_PATH} failed with HTTP {exc.code}: "
                              f"{exc.read()[:1000].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerError(f"uploading model {model_dir.name} to {url}{MODELS_PATH} failed: {exc}") from None
        names.append(model_dir.name)
    return names


def list_models(client: Client) -> list[str]:
    """Names of the models uploaded to the cluster (not those in nodes' config/nail/models/ folders)."""
    import warnings

    with warnings.catch_warnings():  # the plugin reads its own system index: the node warns about that access
        warnings.filterwarnings("ignore", message=".*system indices.*")
        return client.transport.perform_request("GET", MODELS_PATH)["models"]


def delete_model(client: Client, name: str) -> dict[str, Any]:
    return client.transport.perform_request("DELETE", f"{MODELS_PATH}/{name}")
