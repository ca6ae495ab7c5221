"""The one base of every nail-os exception, so that a caller (and the CLI) can catch the kit's errors once.

Each kit exception keeps its name, its module and its built-in base (`QueryError` is still a `ValueError`,
`ModelNotFoundError` a `FileNotFoundError`), so code that caught those goes on working; it also derives from
`NailOSError`, whose message is written for the user: what was given, where, and how to fix it. The CLI turns
a `NailOSError` into exit status 1 with that message (`cli/main.py`). Errors of the cluster's client library
(opensearch-py, elasticsearch-py) are not wrapped: the engine modules describe them (`Engine.describe_error`).

>>> from nail_os.queries import QueryError
>>> issubclass(QueryError, NailOSError) and issubclass(QueryError, ValueError)
True
"""

from __future__ import annotations


class NailOSError(Exception):
    """Something nail-os refused or could not do; the message says what and how to fix it."""


class MissingExtraError(NailOSError, ImportError):
    """An optional dependency group is not installed; the message names its `pip install` command.

    It lives here (and is re-exported by `nail_os.encoders`) because the engine modules raise it too, and they sit
    below the encoders.
    """
