"""Assemble a runnable OpenSearch from the Maven repository, once per version, into the nail-os cache.

    <home>/maven/                     a private Maven repository (-Dmaven.repo.local): known paths to verify
    <home>/opensearch/<version>/      the unpacked integ-test zip, plus modules/<name>/ it lacked
    <home>/opensearch/<version>/nail-os-assembly.json   written last: its presence means "complete"

The integ-test zip is OpenSearch without bundled JDK and without plugins. 3.x ships every module we need;
2.x ships only transport-netty4, so mapper-extras (rank_features), lang-painless and analysis-common (the
`english` analyzer) are resolved from their poms and given the descriptor the official distribution has.
Elasticsearch 8.x (`<home>/elasticsearch/<version>/`) is its integ-test zip as published, with nothing added:
Elastic publishes no other module to Maven (see `releases.ELASTICSEARCH`).
Downloads are checked twice: mvn runs with --strict-checksums (the repository's .sha1), and we compare the
zip's SHA-512 with the one pinned in `releases.py` (or, for an unpinned version, the repository's .sha512).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from nail_os.server.errors import ServerError
from nail_os.server.java import Jdk
from nail_os.server.releases import (
    MODULE_GROUP,
    Module,
    Release,
    distribution,
)

# Pinned so every machine resolves the same way; 3.x of the plugin runs on Maven 3.6.3+ (Debian 12 has 3.8.7).
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MARKER = "nail-os-assembly.json"
# A system service's state lives under /var/lib (FHS); root's own home is 0700, and the unprivileged user
# that runs the node (see node.py) could not read a distribution kept there.
ROOT_HOME = Path("/var/lib/nail-os")
MVN_INSTALL_HINT = "apt-get install maven"


def nail_home() -> Path:
    """The nail-os cache: $NAIL_OS_HOME, else /var/lib/nail-os for root, else $XDG_CACHE_HOME/nail-os."""
    if os.environ.get("NAIL_OS_HOME"):
        return Path(os.environ["NAIL_OS_HOME"]).expanduser().absolute()
    if os.geteuid() == 0:
        return ROOT_HOME
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nail-os"


def distribution_dir(version: str, home: Path | None = None, engine: str = "opensearch") -> Path:
    return (home or nail_home()) / distribution(engine).engine / version


def is_assembled(version: str, home: Path | None = None, engine: str = "opensearch") -> bool:
    return (distribution_dir(version, home, engine) / MARKER).is_file()


def _say(show_progress: bool, message: str) -> None:
    if show_progress:
        print(message, file=sys.stderr, flush=True)


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _published_digest(path: Path) -> str:
    """The hex digest in a repository checksum file (`<hex>` or `<hex>  <filename>`)."""
    text = path.read_text(errors="replace").split()
    if not text:
        raise ServerError(f"checksum file {path} is empty; delete it and run again")
    return text[0].lower()


def verify_checksum(path: Path, expected: str, algorithm: str, source: str) -> None:
    actual = _file_digest(path, algorithm)
    if actual != expected.lower():
        raise ServerError(f"{path}: {algorithm} is {actual}, but {source} says {expected}. The download is "
                          f"corrupt or was tampered with; delete it and run again")


def _mvn_command() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServerError(f"mvn (Apache Maven) is not on PATH; nail-os fetches OpenSearch with it. "
                          f"Install it: {MVN_INSTALL_HINT}")
    return mvn


def run_mvn(args: Sequence[str], repo: Path, jdk: Jdk | None, what: str, cwd: Path | None = None,
            strict: bool = True, compile_with_jdk: bool = False) -> None:
    """Run mvn against our private repository; on failure raise with mvn's last lines.

    `compile_with_jdk`: run mvn on `jdk` whatever JAVA_HOME says (the plugin must be compiled by a JDK at
    least as new as the node's Java release); otherwise `jdk` is used only when no other JVM is found.
    """
    env = dict(os.environ)
    if jdk and (compile_with_jdk or (not env.get("JAVA_HOME") and not shutil.which("java"))):
        env["JAVA_HOME"] = str(jdk.home)  # mvn needs some JVM; the node's one will do
    cmd = [_mvn_command(), "-B", "-q", f"-Dmaven.repo.local={repo}"]
    cmd += ["--strict-checksums"] if strict else []
    cmd += list(args)
    try:
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"mvn took over 30 minutes to fetch {what}; check the network or the Maven "
                          f"settings (~/.m2/settings.xml mirrors/proxies)") from exc
    if out.returncode != 0:
        # Keep mvn's own explanation, not its boilerplate about -e, -X and wiki links.
        noise = ("-e switch", "-X switch", "For more information", "[Help 1] http", "Re-run Maven")
        lines = [line for line in (out.stdout + out.stderr).strip().splitlines()
                 if line.strip() not in ("", "[ERROR]") and not any(n in line for n in noise)]
        tail = "\n".join(lines[-15:])
        hint = "" if compile_with_jdk else (" Does that version exist in the Maven repository, and is it "
                                            "reachable?")
        raise ServerError(f"mvn could not {'build' if compile_with_jdk else 'fetch'} {what} "
                          f"(exit {out.returncode}).{hint}\n{' '.join(cmd)}\n{tail}")


def repo_path(repo: Path, group: str, artifact: str, version: str, ext: str) -> Path:
    return repo.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.{ext}")


def fetch_distribution(release: Release, repo: Path, jdk: Jdk | None) -> Path:
    """The verified integ-test zip of `release` in our repository (downloaded if not there yet)."""
    dist = distribution(release.engine)
    coords = f"{dist.group}:{dist.artifact}:{release.version}:zip"
    # Not --strict-checksums: some releases (3.7.0) were published with no checksum files at all, which
    # strict mode reports as a failed download. We check the SHA-512 ourselves, below.
    run_mvn([f"{DEPENDENCY_PLUGIN}:get", f"-Dartifact={coords}", "-Dtransitive=false"], repo, jdk,
            f"{dist.product} {release.version} ({coords})", strict=False)
    path = repo_path(repo, dist.group, dist.artifact, release.version, "zip")
    if not path.is_file():
        raise ServerError(f"mvn reported success but {path} is missing")
    sha1 = path.with_name(path.name + ".sha1")
    if sha1.is_file():
        verify_checksum(path, _published_digest(sha1), "sha1", str(sha1))
    if release.sha512:
        verify_checksum(path, release.sha512, "sha512", "the checksum pinned in nail_os/server/releases.py")
        return path
    # An unpinned version: check against the repository's .sha512.
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run_mvn([f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={coords}.sha512", f"-DoutputDirectory={tmp}"],
                    repo, jdk, f"the SHA-512 of {coords}", strict=False)
        except ServerError as exc:
            path.unlink()  # never leave an unverified zip where the next run would trust it
            pinned = ", ".join(r.version for r in dist.releases)
            raise ServerError(f"the Maven repository publishes no .sha512 for {coords}, so its download "
                              f"cannot be verified. Use a pinned version ({pinned}) "
                              f"or pin this one in nail_os/server/releases.py") from exc
        published = next(Path(tmp).glob("*.sha512"))
        verify_checksum(path, _published_digest(published), "sha512", f"the repository's {published.name}")
    return path


def _safe_mode(info: zipfile.ZipInfo) -> int:
    # The zip has 0660 files and 0750 folders; the node may run as another user (node.py), so everything is
    # world-readable, and executable only where the zip says so.
    mode = (info.external_attr >> 16) & 0o777
    if info.is_dir():
        return 0o755
    return 0o755 if mode & 0o111 else 0o644


def extract_distribution(zip_path: Path, dest: Path) -> None:
    """Unpack the zip's single top folder into `dest`, keeping executable bits."""
    dest_real = dest.resolve()
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            parts = Path(info.filename).parts[1:]  # drop "opensearch-<version>/"
            if not parts:
                continue
            target = dest.joinpath(*parts)
            if not target.resolve().is_relative_to(dest_real):
                raise ServerError(f"{zip_path}: entry {info.filename!r} points outside the install folder")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(target, _safe_mode(info))
    for folder in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o755)  # folders created implicitly, and the top one


def _lib_artifacts(lib: Path) -> set[str]:
    return {jar.name for jar in lib.glob("*.jar")}


def _already_present(artifact: str, version: str, present: set[str]) -> bool:
    # A jar that is also in lib/ (or in an extended module) makes OpenSearch fail with "jar hell".
    return f"{artifact}-{version}.jar" in present or any(
        name.startswith(f"{artifact}-") and name[len(artifact) + 1:][:1].isdigit() for name in present)


def render_descriptor(module: Module, release: Release, classname: str) -> str:
    """plugin-descriptor.properties as the official distribution writes it for `module`."""
    return "\n".join([
        f"description={module.description}",
        f"version={release.version}",
        f"name={module.name}",
        f"classname={classname}",
        f"java.version={release.min_java}",
        f"opensearch.version={release.version}",
        "custom.foldername=",
        f"extended.plugins={','.join(module.extended_plugins)}",
        "has.native.controller=false",
    ]) + "\n"


def _module_pom(module: Module, version: str) -> str:
    # The module poms depend on org.opensearch:opensearch (the server, already in lib/): excluded.
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>nail-os.assembly</groupId>
  <artifactId>{module.name}</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{MODULE_GROUP}</groupId>
      <artifactId>{module.artifact}</artifactId>
      <version>{version}</version>
      <exclusions>
        <exclusion><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId></exclusion>
      </exclusions>
    </dependency>
  </dependencies>
</project>
"""


def fetch_module(module: Module, release: Release, install: Path, repo: Path, jdk: Jdk | None) -> list[str]:
    """Put `module`'s jar and runtime dependencies under install/modules/<name>/ with a descriptor.

    Returns the jar names it installed.
    """
    target = install / "modules" / module.name
    present = _lib_artifacts(install / "lib")
    for extended in module.extended_plugins:
        present |= _lib_artifacts(install / "modules" / extended)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "pom.xml").write_text(_module_pom(module, release.version))
        staged = tmp_path / "staged"
        run_mvn([f"{DEPENDENCY_PLUGIN}:copy-dependencies", f"-DoutputDirectory={staged}",
                 "-Dmdep.useRepositoryLayout=true", "-DincludeScope=runtime"], repo, jdk,
                f"module {module.name} ({MODULE_GROUP}:{module.artifact}:{release.version})", cwd=tmp_path)
        target.mkdir(parents=True, exist_ok=True)
        installed: list[str] = []
        for jar in sorted(staged.rglob("*.jar")):
            rel = jar.relative_to(staged)
            artifact, version = rel.parts[-3], rel.parts[-2]
            published = repo / rel.parent / (jar.name + ".sha1")
            if not published.is_file():
                raise ServerError(f"{repo / rel} has no .sha1 beside it; delete {repo} and run again")
            verify_checksum(jar, _published_digest(published), "sha1", str(published))
            if _already_present(artifact, version, present):
                continue
            shutil.copyfile(jar, target / jar.name)
            os.chmod(target / jar.name, 0o644)
            installed.append(jar.name)
    main_jar = target / f"{module.artifact}-{release.version}.jar"
    if not main_jar.is_file():
        raise ServerError(f"resolving {module.artifact}:{release.version} gave no {main_jar.name}")
    with zipfile.ZipFile(main_jar) as archive:
        names = set(archive.namelist())
    classname = next((c for c in module.classnames if c.replace(".", "/") + ".class" in names), None)
    if classname is None:
        raise ServerError(f"{main_jar} has none of the plugin classes {', '.join(module.classnames)}; "
                          f"nail-os does not know this OpenSearch version's module layout")
    (target / "plugin-descriptor.properties").write_text(render_descriptor(module, release, classname))
    if module.security_policy:
        (target / "plugin-security.policy").write_text(module.security_policy)
    for path in [target, *target.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return installed


@contextlib.contextmanager
def lock(path: Path) -> Iterator[None]:
    """Serialise assemblies of one version across processes (parallel test runs, two shells)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def assemble(release: Release, jdk: Jdk | None = None, home: Path | None = None,
             show_progress: bool = False) -> Path:
    """The folder of a runnable OpenSearch `release`, assembling it on first use.

    Example:
        >>> from nail_os.server.java import select_release
        >>> release, jdk = select_release()
        >>> assemble(release, jdk)  # doctest: +SKIP
        PosixPath('/home/me/.cache/nail-os/opensearch/3.8.0')
    """
    home = home or nail_home()
    dist = distribution(release.engine)
    dest = distribution_dir(release.version, home, dist.engine)
    if (dest / MARKER).is_file():
        return dest
    for folder in (home, home / dist.engine):
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            os.chmod(folder, 0o755)  # the node's user must be able to walk in (node.py)
    with lock(home / dist.engine / f".{release.version}.lock"):
        if (dest / MARKER).is_file():  # another process finished while we waited
            return dest
        started = time.monotonic()
        repo = home / "maven"
        _say(show_progress, f"fetching {dist.product} {release.version} with mvn into {repo} (first run only)")
        zip_path = fetch_distribution(release, repo, jdk)
        staging = dest.with_name(f".{release.version}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _say(show_progress, f"unpacking {zip_path.name}")
            extract_distribution(zip_path, staging)
            for name in dist.bundled_modules:
                if not (staging / "modules" / name).is_dir():
                    raise ServerError(f"{zip_path} has no modules/{name}; it cannot serve HTTP")
            added: dict[str, list[str]] = {}
            for module in dist.required_modules:
                if (staging / "modules" / module.name / "plugin-descriptor.properties").is_file():
                    continue
                _say(show_progress, f"adding module {module.name} ({MODULE_GROUP}:{module.artifact})")
                added[module.name] = fetch_module(module, release, staging, repo, jdk)
            marker = {"version": release.version, "sha512": _file_digest(zip_path, "sha512"),
                      "modules_added": added, "assembled_in_s": round(time.monotonic() - started, 1),
                      "assembled_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            os.chmod(staging / MARKER, 0o644)
            shutil.rmtree(dest, ignore_errors=True)  # a leftover without a marker is incomplete
            staging.rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _say(show_progress, f"{dist.product} {release.version} assembled in {dest} "
                            f"({time.monotonic() - started:.0f} s)")
    return dest
