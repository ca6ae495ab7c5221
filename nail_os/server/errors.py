"""The one exception of the local-node package; the CLI turns it into exit status 1."""

from __future__ import annotations

from nail_os.errors import NailOSError


class ServerError(NailOSError, RuntimeError):
    """The local node could not be assembled, started, stopped or inspected; the message says what to do."""
