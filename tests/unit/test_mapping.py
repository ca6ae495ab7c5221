"""The index body ships inside the package as a plain file, read by name: no link, no cwd-relative path."""

from __future__ import annotations

from pathlib import Path

import pytest

import nail_os
from nail_os.mapping import MappingError, index_body, load_body


def test_the_body_is_a_plain_file_of_the_package():
    """A link (the old `nail_os/mappings -> ../mappings`) breaks Windows checkouts and some sdists."""
    folder = Path(nail_os.__file__).parent / "mappings"
    assert not folder.is_symlink() and not (folder / "nail.json").is_symlink()
    assert (folder / "nail.json").is_file()


def test_load_body_by_name():
    body = index_body(nail_field="nail")
    assert body["mappings"]["properties"]["nail"]["type"] == "rank_features"
    assert "_comment" not in load_body("nail")


def test_unknown_body_names_the_known_ones():
    with pytest.raises(MappingError, match="known: nail"):
        load_body("no-such-body")
