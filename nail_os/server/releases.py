"""Which engine we run: the pinned releases, the Java each needs, and the modules the kit relies on.

This is the one place that names versions. `assemble.py` fetches what is listed here; `java.py` finds a JDK
inside a release's Java range; `node.py` never mentions a version. Each engine is a `Distribution` (where
Maven keeps it, how it is launched); OpenSearch is the default, Elasticsearch 8.x the second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nail_os.server.errors import ServerError

DIST_GROUP = "org.opensearch.distribution.integ-test-zip"
DIST_ARTIFACT = "opensearch"
MODULE_GROUP = "org.opensearch.plugin"


@dataclass(frozen=True)
class Release:
    """One OpenSearch version we know how to run.

    `sha512` is the checksum Maven Central published beside the integ-test zip (`<zip>.sha512`), recorded here
    so a tampered mirror is caught even when it serves a matching `.sha1`. `None` for versions a user asks for
    by number: then the `.sha512` is fetched from the repository and checked instead.
    """

    version: str
    min_java: int
    max_java: int | None  # None: no known upper bound
    sha512: str | None = None
    engine: str = "opensearch"  # the key of its Distribution in DISTRIBUTIONS

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def accepts_java(self, major: int) -> bool:
        return major >= self.min_java and (self.max_java is None or major <= self.max_java)

    def java_range(self) -> str:
        return f"Java {self.min_java}+" if self.max_java is None else f"Java {self.min_java}-{self.max_java}"


# Preference order: the first release with a usable JDK on this machine wins (see java.select_release).
# 3.8.0 is the newest 3.x the Maven repository served when this was pinned (3.9.0 and 4.0.0 were absent);
# OpenSearch 3.x needs Java 21+. 2.19.6 is the newest 2.19.x there; 2.x still runs under the Java
# SecurityManager, which JDK 24 removed, so it needs Java 11-23 (Debian 12 ships openjdk-17).
RELEASES: tuple[Release, ...] = (
    Release("3.8.0", min_java=21, max_java=None,
            sha512="8470fc447309e84216f9359030db53a85b087492e161e5ce1a29276e776d4725"
                   "b802f93ba8d218ea88e4a7999addadb863be93b8e1f89e9a292163e636e62de3"),
    Release("2.19.6", min_java=11, max_java=23,
            sha512="8adbfaa13162b8d42b388ece6b39bfb7f1a349ab9c128d4eced78ba1dd43b5a1"
                   "0850b43b8aac19fa5ab11f4d5c355ddf6f6617514d6112b0936a1903005d1d36"),
)
OPENSEARCH_VERSION = RELEASES[0].version

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def release_for(version: str, engine: str = "opensearch") -> Release:
    """The pinned `Release` for `version`, or one with the Java range its major version implies.

    >>> release_for("3.8.0").min_java
    21
    >>> release_for("2.18.0").java_range()
    'Java 11-23'
    >>> release_for("8.18.0", "elasticsearch").java_range()
    'Java 17+'
    """
    if engine == "elasticsearch":
        return _es_release_for(version)
    for release in RELEASES:
        if release.version == version:
            return release
    match = _VERSION_RE.match(version)
    if not match:
        raise ServerError(f"OpenSearch version {version!r} is not of the form MAJOR.MINOR.PATCH (e.g. "
                          f"{OPENSEARCH_VERSION})")
    major = int(match.group(1))
    if major >= 3:
        return Release(version, min_java=21, max_java=None)
    if major == 2:
        return Release(version, min_java=11, max_java=23)
    raise ServerError(f"OpenSearch {version} is too old: nail-os runs 2.x (2.19.x tested) and 3.x")


@dataclass(frozen=True)
class Module:
    """An OpenSearch module the kit needs, published on Maven as a plain jar plus its pom.

    When the integ-test zip lacks the module (2.x ships only transport-netty4), `assemble.py` resolves the jar
    and its runtime dependencies and writes `plugin-descriptor.properties` (and the security policy that 2.x
    enforces) itself, with the values the official distribution uses.
    """

    name: str  # folder under modules/, and the plugin name OpenSearch reports
    artifact: str  # artifactId under org.opensearch.plugin
    # The plugin class was renamed in 3.0 (PainlessPlugin -> PainlessModulePlugin); the first one found in
    # the module jar is used.
    classnames: tuple[str, ...]
    description: str
    extended_plugins: tuple[str, ...] = ()
    security_policy: str = ""


# The module's own src/main/plugin-metadata/plugin-security.policy, as shipped in the distributions.
_PAINLESS_POLICY = """grant {
  // needed to generate runtime classes
  permission java.lang.RuntimePermission "createClassLoader";

  // needed to find the classloader to load allowlisted classes from
  permission java.lang.RuntimePermission "getClassLoader";
};
"""

# Every integ-test zip ships the HTTP layer; without it the node has no REST API, so its absence is an error.
BUNDLED_MODULES: tuple[str, ...] = ("transport-netty4",)

REQUIRED_MODULES: tuple[Module, ...] = (
    # rank_features / rank_feature: the NAIL field and its query.
    Module("mapper-extras", "mapper-extras-client",
           ("org.opensearch.index.mapper.MapperExtrasModulePlugin",
            "org.opensearch.index.mapper.MapperExtrasPlugin"),
           "Adds advanced field mappers"),
    # analysis-common extends painless (its scripted token filters), so painless must be present too.
    Module("lang-painless", "lang-painless",
           ("org.opensearch.painless.PainlessModulePlugin", "org.opensearch.painless.PainlessPlugin"),
           "An easy, safe and fast scripting language for OpenSearch", security_policy=_PAINLESS_POLICY),
    # The `english` analyzer for BM25 text fields.
    Module("analysis-common", "analysis-common",
           ("org.opensearch.analysis.common.CommonAnalysisModulePlugin",
            "org.opensearch.analysis.common.CommonAnalysisPlugin"),
           'Adds "built in" analyzers to OpenSearch.', extended_plugins=("lang-painless",)),
)


def descriptor_java_version(release: Release) -> str:
    """`java.version` in a module descriptor: the release's minimum, as the official descriptors state it."""
    return str(release.min_java)


# --- Elasticsearch ------------------------------------------------------------------------------------------

ES_DIST_GROUP = "org.elasticsearch.distribution.integ-test-zip"
ES_DIST_ARTIFACT = "elasticsearch"

# 8.19.21 is the newest 8.x integ-test zip the Maven repository served when this was pinned; the SHA-512 is the
# repository's own `.sha512` of that zip. 8.19 runs on Java 17 and newer (its entitlement checks replaced the
# SecurityManager, so Java 24+ is fine too).
# The integ-test zip holds only transport-netty4, x-pack-core, x-pack-security and apm. Elastic does not publish
# its other modules to Maven (elastic/elasticsearch#82513; the codelibs copies stop at 7.10.2), so this node
# has no mapper-extras (`rank_features`, `rank_feature`), no analysis-common (`english` analyzer) and no
# rank-rrf (`rrf`/`linear` retrievers). It has the `sparse_vector` field and query, which is what
# `nail_os.engines.elasticsearch` indexes NAIL weights into.
ES_RELEASES: tuple[Release, ...] = (
    Release("8.19.21", min_java=17, max_java=None, engine="elasticsearch",
            sha512="cf6b0a93860d329937ae7f913ec5073b0c726c77639764b93fc83a304aa1dd9d"
                   "4defcfa2849948eea3b0b47c2065f994908603939fc2a4774c9c4d868c5ec1dd"),
)
ELASTICSEARCH_VERSION = ES_RELEASES[0].version


def _es_release_for(version: str) -> Release:
    for release in ES_RELEASES:
        if release.version == version:
            return release
    match = _VERSION_RE.match(version)
    if not match:
        raise ServerError(f"Elasticsearch version {version!r} is not of the form MAJOR.MINOR.PATCH (e.g. "
                          f"{ELASTICSEARCH_VERSION})")
    # `sparse_vector` came back in 8.11 (an index of 8.0-8.10 refuses it); 9.x drops Java 17.
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) < (8, 11):
        raise ServerError(f"Elasticsearch {version} is too old: nail-os needs 8.11+ for the sparse_vector field "
                          f"(8.19.x tested)")
    return Release(version, min_java=17 if major == 8 else 21, max_java=None, engine="elasticsearch")


@dataclass(frozen=True)
class Distribution:
    """Where an engine's integ-test zip lives on Maven, and how its node is configured and launched."""

    engine: str  # "opensearch" | "elasticsearch": the name the CLI and the state file use
    product: str  # for messages
    group: str
    artifact: str
    releases: tuple[Release, ...]
    bundled_modules: tuple[str, ...]
    required_modules: tuple[Module, ...]
    launcher: str  # the script under bin/
    # The main class of the process the launcher leaves running (what /proc/<pid>/cmdline shows): OpenSearch
    # execs the node's JVM; Elasticsearch 8 keeps a small CLI JVM that starts the node's JVM as its child.
    main_class: str
    settings_file: str  # under the config folder
    java_home_var: str  # binding when set (java.py)
    conf_var: str
    tmp_var: str


OPENSEARCH = Distribution(
    engine="opensearch", product="OpenSearch", group=DIST_GROUP, artifact=DIST_ARTIFACT, releases=RELEASES,
    bundled_modules=BUNDLED_MODULES, required_modules=REQUIRED_MODULES, launcher="opensearch",
    main_class="org.opensearch.bootstrap.OpenSearch", settings_file="opensearch.yml",
    java_home_var="OPENSEARCH_JAVA_HOME", conf_var="OPENSEARCH_PATH_CONF", tmp_var="OPENSEARCH_TMPDIR")
ELASTICSEARCH = Distribution(
    engine="elasticsearch", product="Elasticsearch", group=ES_DIST_GROUP, artifact=ES_DIST_ARTIFACT,
    releases=ES_RELEASES, bundled_modules=("transport-netty4", "x-pack-core"), required_modules=(),
    launcher="elasticsearch", main_class="org.elasticsearch.launcher.CliToolLauncher",
    settings_file="elasticsearch.yml", java_home_var="ES_JAVA_HOME", conf_var="ES_PATH_CONF",
    tmp_var="ES_TMPDIR")
DISTRIBUTIONS: dict[str, Distribution] = {d.engine: d for d in (OPENSEARCH, ELASTICSEARCH)}


def distribution(engine: str) -> Distribution:
    """The `Distribution` of `engine`, or a ServerError that lists the known ones."""
    try:
        return DISTRIBUTIONS[engine]
    except KeyError:
        raise ServerError(f"engine {engine!r} is not supported; choose one of: "
                          f"{', '.join(DISTRIBUTIONS)}") from None
