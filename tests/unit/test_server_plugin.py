"""The plugin's Python side without mvn or a node: versions from pom.xml, the cache key, the install copy."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from nail_os.server.assemble import MARKER
from nail_os.server.errors import ServerError
from nail_os.server.plugin import PLUGIN_SOURCE, install_into_copy, install_models, plugin_source


def test_versions_come_from_the_pom():
    source = plugin_source()
    assert (source.version, source.opensearch_version, source.java_release) == ("0.1.0", "3.8.0", 21)
    assert source.zip_name == f"nail-os-plugin-0.1.0-{source.digest}.zip"


def test_a_source_change_changes_the_cache_key(tmp_path):
    copy = tmp_path / "plugin"
    shutil.copytree(PLUGIN_SOURCE, copy, ignore=shutil.ignore_patterns("target"))
    before = plugin_source(copy).digest
    java = next((copy / "src" / "main" / "java").rglob("NailPlugin.java"))
    java.write_text(java.read_text() + "\n// changed\n")
    assert plugin_source(copy).digest != before
    (copy / "pom.xml").unlink()
    with pytest.raises(ServerError, match="no plugin sources"):
        plugin_source(copy)


def test_install_goes_into_a_copy_and_leaves_the_distribution_alone(tmp_path):
    install = tmp_path / "opensearch" / "3.8.0"
    (install / "plugins").mkdir(parents=True)
    (install / "lib").mkdir()
    (install / "lib" / "x.jar").write_text("jar")
    (install / MARKER).write_text(json.dumps({"version": "3.8.0"}))
    zip_path = tmp_path / "p.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("plugin-descriptor.properties", "name=nail\n")
        archive.writestr("nail-os-plugin-0.1.0.jar", "jar")
    source = plugin_source()
    copy = install_into_copy(install, zip_path, source)
    assert copy.name == f"3.8.0-nail-plugin-0.1.0-{source.digest}"
    assert sorted(p.name for p in (copy / "plugins" / "nail").iterdir()) == [
        "nail-os-plugin-0.1.0.jar", "plugin-descriptor.properties"]
    assert json.loads((copy / MARKER).read_text())["plugin"]["version"] == "0.1.0"
    assert not (install / "plugins" / "nail").exists()
    assert install_into_copy(install, zip_path, source) == copy  # made once


def test_models_are_copied_into_the_node_config(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "tokenizer.json").write_text("{}")
    assert install_models(tmp_path / "config", [model]) == ["my-model"]
    assert (tmp_path / "config" / "nail" / "models" / "my-model" / "tokenizer.json").read_text() == "{}"
    assert not (tmp_path / "config" / "nail" / "models" / "my-model" / "query_weights.json").exists()
