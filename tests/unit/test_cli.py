"""The CLI: --help everywhere with an example, and `query --dsl` output that pipes cleanly."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from nail_os.cli.main import main


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in all_commands(main)], ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"nail-os {' '.join(path)} --help shows no example"


def test_query_dsl_prints_json_only():
    result = CliRunner().invoke(main, ["query", "--dsl", "u.s. coffee", "--model", "splade-tiny"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert all(c["rank_feature"]["linear"] == {} for c in body["query"]["bool"]["should"])


def test_query_dsl_prints_the_normalized_hybrid():
    result = CliRunner().invoke(main, ["query", "--dsl", "vitamin d", "--mode", "hybrid", "--server-side",
                                       "--hybrid-normalization", "max", "--bm25-weight", "0.7", "--nail-weight", "0.3"])
    assert result.exit_code == 0, result.output
    hybrid = json.loads(result.stdout)["query"]["nail_hybrid"]
    assert hybrid["weights"] == [0.7, 0.3] and [next(iter(q)) for q in hybrid["queries"]] == ["multi_match", "nail"]


def test_the_normalized_hybrid_on_elasticsearch_is_a_clear_error():
    result = CliRunner().invoke(main, ["--engine", "elasticsearch", "query", "vitamin d", "--mode", "hybrid",
                                       "--server-side", "--hybrid-normalization", "max"])
    assert result.exit_code == 1 and "nail_hybrid" in result.output, result.output


def test_unreachable_cluster_is_a_clear_error():
    result = CliRunner().invoke(main, ["--url", "http://127.0.0.1:1", "search", "x", "-i", "none", "--mode", "bm25"])
    assert result.exit_code == 1
    assert "cannot reach OpenSearch at http://127.0.0.1:1" in result.output


def test_credentials_in_the_url_are_never_printed():
    result = CliRunner().invoke(
        main, ["--url", "http://alice:s3cret@127.0.0.1:1", "search", "x", "-i", "none", "--mode", "bm25"]
    )
    assert result.exit_code == 1 and "s3cret" not in result.output and "alice" not in result.output
