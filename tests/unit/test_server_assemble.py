"""Assembly pieces that need no network: unpacking, checksums, module descriptors, the cache location."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from pathlib import Path

import pytest

from nail_os.server import ServerError, nail_home
from nail_os.server.assemble import (
    _already_present,
    extract_distribution,
    render_descriptor,
    repo_path,
    verify_checksum,
)
from nail_os.server.releases import REQUIRED_MODULES, release_for


def add(archive: zipfile.ZipFile, name: str, mode: int, data: bytes = b"") -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.create_system = 3  # unix, so the mode bits are meaningful
    archive.writestr(info, data)


def test_unpacking_strips_the_top_folder_and_opens_modes_to_other_users(tmp_path):
    # The real zip has 0660 files and 0750 folders; the node may run as another user than the one unpacking.
    zip_path = tmp_path / "os.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        add(archive, "opensearch-3.8.0/bin/", 0o40750)
        add(archive, "opensearch-3.8.0/bin/opensearch", 0o100755, b"#!/bin/bash\n")
        add(archive, "opensearch-3.8.0/config/jvm.options", 0o100660, b"-Xms1g\n")
    dest = tmp_path / "install"
    extract_distribution(zip_path, dest)
    assert stat.S_IMODE((dest / "bin" / "opensearch").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "config" / "jvm.options").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "bin").stat().st_mode) == 0o755
    assert (dest / "config" / "jvm.options").read_text() == "-Xms1g\n"


def test_unpacking_refuses_entries_that_escape(tmp_path):
    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        add(archive, "opensearch-3.8.0/../../outside", 0o100644, b"x")
    with pytest.raises(ServerError, match="points outside the install folder"):
        extract_distribution(zip_path, tmp_path / "install")


def test_a_corrupt_download_is_named_with_both_digests(tmp_path):
    path = tmp_path / "opensearch-3.8.0.zip"
    path.write_bytes(b"not the real zip")
    good = hashlib.sha512(b"not the real zip").hexdigest()
    verify_checksum(path, good.upper(), "sha512", "pinned")  # published digests may be upper case
    expected = r"opensearch-3\.8\.0\.zip: sha512 is [0-9a-f]{128}, but pinned says 0+"
    with pytest.raises(ServerError, match=expected):
        verify_checksum(path, "0" * 128, "sha512", "pinned")


def test_module_descriptor_matches_the_official_one_for_analysis_common():
    module = next(m for m in REQUIRED_MODULES if m.name == "analysis-common")
    classname = "org.opensearch.analysis.common.CommonAnalysisPlugin"
    text = render_descriptor(module, release_for("2.19.6"), classname)
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props == {
        "description": 'Adds "built in" analyzers to OpenSearch.', "version": "2.19.6",
        "name": "analysis-common", "classname": classname, "java.version": "11",
        "opensearch.version": "2.19.6", "custom.foldername": "", "extended.plugins": "lang-painless",
        "has.native.controller": "false",
    }


def test_jars_already_in_lib_are_not_copied_into_a_module():
    # Two copies of a class on the classpath make OpenSearch stop with "jar hell".
    lib = {"opensearch-2.19.6.jar", "lucene-core-9.12.3.jar", "asm-9.7.jar"}
    assert _already_present("lucene-core", "9.12.2", lib)
    assert _already_present("asm", "9.7", lib)
    assert not _already_present("asm-tree", "9.7", lib)
    assert not _already_present("antlr4-runtime", "4.13.1", lib)


def test_repository_layout():
    assert repo_path(Path("/m2"), "org.opensearch.plugin", "lang-painless", "2.19.6", "jar") == \
        Path("/m2/org/opensearch/plugin/lang-painless/2.19.6/lang-painless-2.19.6.jar")


def test_the_cache_follows_nail_os_home(monkeypatch, tmp_path):
    monkeypatch.setenv("NAIL_OS_HOME", str(tmp_path / "cache"))
    assert nail_home() == tmp_path / "cache"
