"""Which OpenSearch runs on which Java: version pins, JDK discovery and selection. No node needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nail_os.server import OPENSEARCH_VERSION, ServerError
from nail_os.server.java import Jdk, find_jdks, parse_java_version, pick_jdk, select_release
from nail_os.server.releases import RELEASES, release_for

JDK17 = Jdk(Path("/usr/lib/jvm/java-17-openjdk-amd64"), 17)
JDK21 = Jdk(Path("/usr/lib/jvm/java-21-openjdk-amd64"), 21)
JDK25 = Jdk(Path("/usr/lib/jvm/temurin-25-jdk-amd64"), 25)


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\nexit 0\n")
    java.chmod(0o755)
    (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return home


def test_the_version_is_pinned_in_one_place():
    assert OPENSEARCH_VERSION == RELEASES[0].version == "3.8.0"
    assert all(len(r.sha512 or "") == 128 for r in RELEASES)


@pytest.mark.parametrize(("text", "major"), [
    ('JAVA_VERSION="17.0.15"', 17), ('JAVA_VERSION="25.0.3"', 25), ('JAVA_VERSION="21"', 21),
    ('openjdk version "1.8.0_412"', 8), ("no version here", None),
])
def test_java_versions_from_release_files(text, major):
    assert parse_java_version(text) == major


def test_newest_opensearch_that_a_jdk_here_runs():
    assert select_release(jdks=[JDK17, JDK25])[0].version == "3.8.0"
    assert select_release(jdks=[JDK17, JDK25])[1] == JDK25
    # Only Java 17 (Debian 12's openjdk): fall back to 2.19.x.
    release, jdk = select_release(jdks=[JDK17])
    assert (release.version, jdk) == ("2.19.6", JDK17)


def test_2x_never_runs_on_java_24_plus():
    # JDK 24 removed the SecurityManager that OpenSearch 2.x installs at start.
    with pytest.raises(ServerError, match=r"OpenSearch 2\.19\.6 needs Java 11-23; found: Java 25 at"):
        select_release("2.19.6", jdks=[JDK25])


def test_a_jdk_named_in_the_environment_wins_when_it_fits():
    named = Jdk(Path("/opt/jdk21"), 21, from_env="JAVA_HOME")
    assert pick_jdk(release_for("3.8.0"), [JDK25, named]) == named
    assert pick_jdk(release_for("3.8.0"), [JDK25, Jdk(Path("/opt/jdk17"), 17, from_env="JAVA_HOME")]) == JDK25


def test_opensearch_java_home_is_binding_and_so_picks_the_release(tmp_path):
    forced = Jdk(Path("/usr/lib/jvm/java-17-openjdk-amd64"), 17, from_env="OPENSEARCH_JAVA_HOME")
    assert select_release(jdks=[JDK25, forced]) == (release_for("2.19.6"), forced)
    with pytest.raises(ServerError, match=f"OPENSEARCH_JAVA_HOME={tmp_path} is not a JDK"):
        find_jdks({"OPENSEARCH_JAVA_HOME": str(tmp_path)}, roots=[])


def test_no_java_at_all_says_what_to_install():
    with pytest.raises(ServerError, match="no suitable Java found.*found: none.*apt-get install openjdk-17"):
        select_release(jdks=[])


def test_unpinned_versions_get_the_java_range_of_their_major():
    assert (release_for("3.6.0").min_java, release_for("3.6.0").max_java, release_for("3.6.0").sha512) == \
           (21, None, None)
    assert release_for("2.18.0").java_range() == "Java 11-23"
    with pytest.raises(ServerError, match="'3.9' is not of the form MAJOR.MINOR.PATCH"):
        release_for("3.9")
    with pytest.raises(ServerError, match="1.3.0 is too old"):
        release_for("1.3.0")


def test_jdks_are_found_in_install_roots_and_the_environment(tmp_path):
    root = tmp_path / "jvm"
    home17 = fake_jdk(root, "java-17-openjdk-amd64", "17.0.15")
    fake_jdk(root, "temurin-25-jdk-amd64", "25.0.3")
    (root / "java-1.17.0-openjdk-amd64").symlink_to(home17)  # Debian's alias: the same JDK
    (root / "broken").mkdir()  # no bin/java: ignored
    other = fake_jdk(tmp_path / "opt", "jdk-21", "21.0.2")
    jdks = find_jdks({"JAVA_HOME": str(other), "PATH": ""}, roots=[str(root)])
    assert [(j.home.name, j.major, j.from_env) for j in jdks] == [
        ("jdk-21", 21, "JAVA_HOME"), ("java-17-openjdk-amd64", 17, None), ("temurin-25-jdk-amd64", 25, None)]


def test_the_machines_own_jdks_are_real_ones():
    # Whatever this machine has must at least parse: a JDK we cannot read is one we silently skip.
    for jdk in find_jdks():
        assert jdk.major >= 8 and os.access(jdk.java, os.X_OK)
