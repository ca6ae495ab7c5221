"""One exception base: every kit exception is a `NailOSError` (and keeps its built-in base), and the CLI turns
any of them, and any client error its engine describes, into exit 1 with a message."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import click
import pytest
from click.testing import CliRunner

import nail_os
from nail_os.cli.main import _describe, main
from nail_os.errors import NailOSError


def _kit_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(nail_os.__path__, "nail_os."):
        if info.name.endswith("__main__"):  # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, BaseException) and obj.__module__ == info.name]
    return found


def test_every_kit_exception_derives_from_nailoserror():
    exceptions = _kit_exceptions()
    assert len(exceptions) >= 18  # the walk found them
    assert [e.__qualname__ for e in exceptions if not issubclass(e, NailOSError)] == []


def test_kit_exceptions_keep_their_builtin_base_and_home():
    from nail_os.encoders import MissingExtraError
    from nail_os.queries import QueryError
    from nail_os.registry import ModelNotFoundError

    assert issubclass(QueryError, ValueError)
    assert issubclass(ModelNotFoundError, FileNotFoundError)
    assert issubclass(MissingExtraError, ImportError)


def test_the_cli_prints_any_kit_error_once():
    @main.command("boom")
    def boom() -> None:
        raise NailOSError("the message for the user")

    try:
        result = CliRunner().invoke(main, ["boom"])
    finally:
        main.commands.pop("boom")
    assert result.exit_code == 1
    assert result.output == "Error: the message for the user\n"


def test_an_elasticsearch_error_reaches_the_user_with_its_reason():
    es = pytest.importorskip("elasticsearch")
    from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig

    meta = ApiResponseMeta(status=400, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "localhost", 9250))
    body = {"error": {"type": "illegal_argument_exception", "reason": "field [nail] is not a sparse_vector"}}
    exc = es.BadRequestError("illegal_argument_exception", meta, body)
    ctx = click.Context(main, obj=None)
    message = _describe(exc, ctx)
    assert message.startswith("Elasticsearch at the cluster answered HTTP 400")
    assert "is not a sparse_vector" in message
