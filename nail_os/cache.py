"""Where nail-os keeps what it can rebuild or resume from: `$XDG_CACHE_HOME/nail-os/<part>` (default
`~/.cache/nail-os/<part>`): ingest progress (`ingest`), evaluation side files (`eval`), unpacked models
(`models`). The local node's home is chosen apart (`nail_os.server.nail_home`): it must suit the node's user.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(part: str) -> Path:
    """`$XDG_CACHE_HOME/nail-os/<part>`, not created."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nail-os" / part
