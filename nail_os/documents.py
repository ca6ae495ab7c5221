"""A record plus its `{token: weight}` → the document body nail-os indexes.

The body has the BM25 fields (title, text), the NAIL `rank_features` field keyed by token id, the
original id in `doc_id` (also the `_id`, so re-sending a document overwrites it: no duplicates), and
free-form metadata that is stored but not indexed.
"""

from __future__ import annotations

from typing import Any

import orjson  # a core dependency (pyproject.toml): 5-10x faster JSON for the bulk bodies

from nail_os.corpus import Record
from nail_os.errors import NailOSError
from nail_os.features import DEFAULT_NAIL_FIELD, FLOAT32_MAX, FeatureError, token_features
from nail_os.statistics import tokens_field
from nail_os.tokens import Tokenizer

# Lucene refuses a term over 32,766 bytes, and OpenSearch's `_id` is limited to 512 bytes.
MAX_ID_BYTES = 512

EMPTY_TEXT = "empty text: nothing to encode (title and text are empty or whitespace)"


class DocumentError(NailOSError, ValueError):
    """A record that cannot become a document; the message says why."""


def check_record(record: Record, *, needs_text: bool) -> None:
    """Raise DocumentError for a record that must not be indexed."""
    if record.error:
        raise DocumentError(record.error)
    if record.doc_id is None:
        raise DocumentError("missing document id")
    if len(record.doc_id.encode("utf-8")) > MAX_ID_BYTES:
        raise DocumentError(f"document id is longer than {MAX_ID_BYTES} bytes")
    if needs_text and not record.full_text:
        raise DocumentError(EMPTY_TEXT)


def to_document(
    record: Record,
    weights: dict[str, float] | None,
    tokenizer: Tokenizer | None,
    *,
    nail_field: str = DEFAULT_NAIL_FIELD,
    top_k: int | None = None,
    max_ratio: float | None = None,
    tokens: list[str] | None = None,
) -> dict[str, Any]:
    """The `_source` to index for `record`; `weights` are the encoder's (or the record's) token weights, `tokens`
    the distinct token ids of its text (`nail_os.statistics.document_tokens`), kept for query weights."""
    doc: dict[str, Any] = {"doc_id": record.doc_id}
    if record.title:
        doc["title"] = record.title
    if record.text:
        doc["text"] = record.text
    if record.metadata:
        doc["metadata"] = record.metadata
    if weights is not None:
        doc[nail_field] = nail_features(weights, tokenizer, top_k=top_k, max_ratio=max_ratio)
    if tokens:
        doc[tokens_field(nail_field)] = tokens
    return doc


def document_json(doc: dict[str, Any]) -> str | dict[str, Any]:
    """`doc` as the JSON text a bulk request carries, or `doc` itself for the client to serialize.

    With orjson, a document of id, title, text and features (strings and finite floats: what
    `to_document` builds) is serialized here, on the thread that prepares it, in about a tenth of the
    time of `json`; both bulk helpers pass a `str` body through untouched. Anything else (metadata, whose
    values are arbitrary JSON: NaN, big integers...; a string orjson refuses, such as a lone surrogate)
    is left to the client's own serializer, so the bytes sent only differ in float spelling (`1e-05` vs
    `1e-5`), never in value.
    """
    if "metadata" in doc:
        return doc
    try:
        return orjson.dumps(doc).decode()
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return doc


def nail_features(
    weights: dict[str, float], tokenizer: Tokenizer | None, *, top_k: int | None = None, max_ratio: float | None = None
) -> dict[str, float]:
    """Validated, pruned `{feature name: weight}`; DocumentError if a weight is bad or none is left."""
    if tokenizer is None:
        raise DocumentError("pre-encoded features need the model's tokenizer (--model) to name them")
    try:
        features = token_features(weights, tokenizer, top_k=top_k, max_ratio=max_ratio)
    except FeatureError as exc:
        raise DocumentError(str(exc)) from None
    except UnicodeEncodeError:  # the tokenizer takes valid Unicode only: a name holding a lone surrogate
        raise DocumentError("a feature name is not valid Unicode (it holds an unpaired surrogate)") from None
    except OverflowError:  # quantizing packs each weight as a float32; past the largest one that fails
        token = next((t for t, w in weights.items() if _too_big(w)), "?")
        raise DocumentError(
            f"weight for token {token!r} is {str(weights.get(token))[:24]}; rank_features stores "
            f"a float32, at most {FLOAT32_MAX:.4g}"
        ) from None
    if not features:
        raise DocumentError("no feature with a weight > 0: the document would never match a NAIL query")
    return features


def _too_big(weight: float) -> bool:
    try:
        return float(weight) > FLOAT32_MAX
    except OverflowError:  # an integer past float64 (a JSON literal of 400 digits)
        return True
