"""The index body from `nail_os/mappings/*.json`; creating an index; adding the NAIL field to an existing one.

The body is read by name from the installed package (`nail_os.mappings`), never from the working
directory. The NAIL field name is a placeholder in the JSON so that one body serves any field name.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from nail_os.engines import Client, engine_of
from nail_os.errors import NailOSError
from nail_os.features import DEFAULT_NAIL_FIELD  # re-exported: callers import it from here too
from nail_os.statistics import tokens_field

_PLACEHOLDER = "NAIL_FIELD"
_TOKENS_PLACEHOLDER = "NAIL_TOKENS_FIELD"
# Each document's distinct token ids: postings only (a query reads document frequencies, never values).
TOKENS_MAPPING = {"type": "keyword", "doc_values": False}


class MappingError(NailOSError, RuntimeError):
    """The index exists with a mapping nail-os cannot write into, or a mapping call failed."""


def load_body(name: str = "nail") -> dict[str, Any]:
    """The JSON body `nail_os/mappings/<name>.json`, as shipped with the package."""
    resource = files("nail_os.mappings") / f"{name}.json"
    if not resource.is_file():
        known = sorted(p.name[:-5] for p in files("nail_os.mappings").iterdir() if p.name.endswith(".json"))
        raise MappingError(f"no mapping named {name!r}; known: {', '.join(known)}")
    body = json.loads(resource.read_text(encoding="utf-8"))
    body.pop("_comment", None)
    return body


def index_body(
    *,
    nail_field: str = DEFAULT_NAIL_FIELD,
    shards: int = 1,
    replicas: int = 0,
    keep_features_in_source: bool = False,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body for `PUT /<index>`: BM25 text fields plus the `rank_features` NAIL field.

    Features are kept out of `_source` by default (they are most of a document's bytes). The price:
    a later partial update of such a document through the update API rebuilds it from `_source` and
    drops its features, so re-run `nail-os ingest --update` after one, or pass
    `keep_features_in_source=True`.
    """
    if "." in nail_field or not nail_field:
        raise MappingError(f"NAIL field name {nail_field!r} must be non-empty and contain no dot")
    body = _substitute(load_body("nail"), nail_field)
    body["settings"]["index"].update({"number_of_shards": shards, "number_of_replicas": replicas})
    if keep_features_in_source:
        del body["mappings"]["_source"]
    if meta:
        body["mappings"]["_meta"] = {"nail_os": meta}
    return body


def _substitute(body: dict[str, Any], nail_field: str) -> dict[str, Any]:
    text = json.dumps(body).replace(f'"{_TOKENS_PLACEHOLDER}"', json.dumps(tokens_field(nail_field)))
    return json.loads(text.replace(f'"{_PLACEHOLDER}"', json.dumps(nail_field)))


def create_index(client: Client, index: str, *, exist_ok: bool = True, **options: Any) -> bool:
    """Create `index` with `index_body(**options)`; returns False if it already existed and fits.

    An existing index must already have the NAIL field (`rank_features`; `sparse_vector` on Elasticsearch):
    otherwise MappingError is raised before any document is sent. On Elasticsearch the body is adapted by
    `nail_os.engines.elasticsearch.adapt_index_body`.
    """
    engine = engine_of(client)
    body = index_body(**options)
    nail_field = options.get("nail_field", DEFAULT_NAIL_FIELD)
    if client.indices.exists(index=index):
        if not exist_ok:
            raise MappingError(f"index {index!r} already exists")
        check_nail_field(client, index, nail_field)
        return False
    client.indices.create(index=index, body=engine.adapt_index_body(client, body))
    return True


def field_type(client: Client, index: str, field: str) -> str | None:
    """The mapped type of a top-level `field` in `index`, or None if it is not mapped."""
    mapping = client.indices.get_mapping(index=index)
    # A name may be an alias: the response is keyed by the concrete index.
    for entry in mapping.values():
        props = entry.get("mappings", {}).get("properties", {})
        if field in props:
            return props[field].get("type", "object")
    return None


def check_nail_field(client: Client, index: str, nail_field: str = DEFAULT_NAIL_FIELD) -> None:
    """Raise MappingError unless `nail_field` in `index` is a `rank_features` (Elasticsearch: `sparse_vector`)
    field."""
    expected = engine_of(client).NAIL_FIELD_TYPE
    kind = field_type(client, index, nail_field)
    if kind is None:
        raise MappingError(
            f"index {index!r} has no field {nail_field!r}; add it with: nail-os index add-nail-field {index}"
        )
    if kind != expected:
        raise MappingError(
            f"index {index!r} maps {nail_field!r} as {kind!r}, not {expected}; "
            f"choose another field with --nail-field or another index"
        )


def add_nail_field(client: Client, index: str, nail_field: str = DEFAULT_NAIL_FIELD) -> bool:
    """Add the `rank_features` field (Elasticsearch: `sparse_vector`) to an existing index, leaving its other
    fields alone.

    Returns False when the field is already there with that type. Existing documents get
    features with `nail-os ingest --update`. `_source` excludes cannot change on an existing index,
    so there the features are kept in `_source`.
    """
    if not client.indices.exists(index=index):
        raise MappingError(f"index {index!r} does not exist; create it with: nail-os index create {index}")
    expected = engine_of(client).NAIL_FIELD_TYPE
    kind = field_type(client, index, nail_field)
    if kind == expected:
        ensure_tokens_field(client, index, nail_field)
        return False
    if kind is not None:
        raise MappingError(f"index {index!r} already maps {nail_field!r} as {kind!r}; choose another --nail-field")
    client.indices.put_mapping(index=index, body={"properties": {nail_field: {"type": expected}}})
    ensure_tokens_field(client, index, nail_field)
    return True


def ensure_tokens_field(client: Client, index: str, nail_field: str = DEFAULT_NAIL_FIELD) -> bool:
    """Add `<nail_field>_tokens` (the token statistics of `nail_os.statistics`) to `index` if it lacks it, as on an
    index made by an older nail-os; True if added. Its IDF then counts the documents ingested from now on."""
    name = tokens_field(nail_field)
    kind = field_type(client, index, name)
    if kind == "keyword":
        return False
    if kind is not None:
        raise MappingError(f"index {index!r} maps {name!r} as {kind!r}; nail-os keeps token statistics there "
                           f"(a keyword field): choose another --nail-field")
    client.indices.put_mapping(index=index, body={"properties": {name: TOKENS_MAPPING}})
    return True
