"""Find the JDKs on this machine and pick the release and JDK that go together.

OpenSearch 3.x needs Java 21+, 2.x needs Java 11-23 (see `releases.py`). We look at OPENSEARCH_JAVA_HOME,
JAVA_HOME, the `java` on PATH and the usual install folders, read each JDK's `release` file for its version,
and prefer, in this order: a home the user named in the environment, then the newest JDK the release accepts.
OPENSEARCH_JAVA_HOME is binding (only that JDK is used, so it also picks the release); JAVA_HOME is a
preference. ES_JAVA_HOME does the same for Elasticsearch (8.x needs Java 17+).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nail_os.server.errors import ServerError
from nail_os.server.releases import Release, distribution, release_for

# Where package managers and vendors put JDKs (Debian/Ubuntu, Fedora, Docker images, macOS).
JDK_ROOTS = ("/usr/lib/jvm", "/usr/lib64/jvm", "/usr/java", "/opt/java", "/opt/jdk",
             "/Library/Java/JavaVirtualMachines")
# The engines' own variables are binding for their engine (see select_release); JAVA_HOME is a preference.
ENV_HOMES = ("OPENSEARCH_JAVA_HOME", "ES_JAVA_HOME", "JAVA_HOME")

# Debian's package that gives OpenSearch 2.x a JDK; 3.x needs a Java 21+ JDK from elsewhere on Debian 12.
JAVA_INSTALL_HINT = "apt-get install openjdk-17-jre-headless (OpenSearch 2.x) or install a Java 21+ JDK " \
                    "and set JAVA_HOME (OpenSearch 3.x)"


@dataclass(frozen=True)
class Jdk:
    home: Path
    major: int
    from_env: str | None = None  # the variable that named it, if any

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def parse_java_version(text: str) -> int | None:
    """The major version in a `release` file or `java -version` output.

    >>> parse_java_version('JAVA_VERSION="17.0.15"')
    17
    >>> parse_java_version('openjdk version "1.8.0_412"')
    8
    >>> parse_java_version('openjdk version "25" 2025-09-16')
    25
    """
    match = re.search(r'(?:JAVA_VERSION=|version )"(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older call themselves 1.x.
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _jdk_at(home: Path, from_env: str | None = None) -> Jdk | None:
    java = home / "bin" / "java"
    if not os.access(java, os.X_OK):
        return None
    release_file = home / "release"
    major = None
    if release_file.is_file():
        major = parse_java_version(release_file.read_text(errors="replace"))
    if major is None:
        try:  # a JDK without a release file (rare): ask it, which costs a JVM start
            out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        major = parse_java_version(out.stderr + out.stdout)
    return Jdk(home, major, from_env) if major else None


def _candidate_homes(environ: os._Environ[str] | dict[str, str], roots: Iterable[str]
                     ) -> list[tuple[Path, str | None]]:
    found: list[tuple[Path, str | None]] = []
    for var in ENV_HOMES:
        if environ.get(var):
            found.append((Path(environ[var]), var))
    on_path = shutil.which("java", path=environ.get("PATH"))
    if on_path:  # /usr/bin/java -> /etc/alternatives/java -> <home>/bin/java
        found.append((Path(on_path).resolve().parent.parent, None))
    for root in roots:
        root_path = Path(root)
        if not root_path.is_dir():
            continue
        for child in sorted(root_path.iterdir()):
            mac_home = child / "Contents" / "Home"
            found.append((mac_home if mac_home.is_dir() else child, None))
    return found


def find_jdks(environ: os._Environ[str] | dict[str, str] | None = None,
              roots: Iterable[str] = JDK_ROOTS) -> list[Jdk]:
    """Every distinct JDK we can see, environment-named ones first."""
    environ = os.environ if environ is None else environ
    for var in ENV_HOMES[:-1]:
        forced = environ.get(var)
        if forced and not _jdk_at(Path(forced)):
            raise ServerError(f"{var}={forced} is not a JDK (no executable bin/java with a readable version); "
                              f"fix or unset it")
    seen: set[Path] = set()
    jdks: list[Jdk] = []
    for home, var in _candidate_homes(environ, roots):
        real = home.resolve()
        if real in seen:
            continue
        jdk = _jdk_at(real, var)
        if jdk:
            seen.add(real)
            jdks.append(jdk)
    return jdks


def pick_jdk(release: Release, jdks: Sequence[Jdk]) -> Jdk | None:
    """The JDK to run `release` with: an environment-named one if it fits, else the newest that fits."""
    fitting = [jdk for jdk in jdks if release.accepts_java(jdk.major)]
    named = [jdk for jdk in fitting if jdk.from_env]
    if named:
        return named[0]
    return max(fitting, key=lambda jdk: jdk.major, default=None)


def _describe(jdks: Sequence[Jdk]) -> str:
    return ", ".join(f"Java {jdk.major} at {jdk.home}" for jdk in jdks) or "none"


def select_release(version: str | None = None, jdks: Sequence[Jdk] | None = None,
                   engine: str = "opensearch") -> tuple[Release, Jdk]:
    """The release of `engine` to run and its JDK: `version` if given, else the first pinned one a JDK here runs.

    >>> jdk17 = Jdk(Path("/usr/lib/jvm/java-17"), 17)
    >>> release, jdk = select_release(jdks=[jdk17])
    >>> release.version, jdk.major
    ('2.19.6', 17)
    """
    dist = distribution(engine)
    jdks = find_jdks() if jdks is None else list(jdks)
    forced = [jdk for jdk in jdks if jdk.from_env == dist.java_home_var]
    # Another engine's variable names a JDK for that engine: usable here, but not a preference.
    jdks = forced or [jdk if jdk.from_env in (None, "JAVA_HOME") else replace(jdk, from_env=None) for jdk in jdks]
    candidates = [release_for(version, engine)] if version else list(dist.releases)
    for release in candidates:
        jdk = pick_jdk(release, jdks)
        if jdk:
            return release, jdk
    wanted = "; ".join(f"{dist.product} {r.version} needs {r.java_range()}" for r in candidates)
    raise ServerError(f"no suitable Java found: {wanted}; found: {_describe(jdks)}. "
                      f"Install one ({JAVA_INSTALL_HINT}), or point {dist.java_home_var} at a JDK.")
