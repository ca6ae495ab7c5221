"""Token ⇄ `rank_features` feature name, and the rules a weight must follow to be indexed.

Two traps decide the naming. The engine splits a `rank_feature` field path at its *last* dot
(`nail.u.s.` would name field `nail.u.s` and feature ``""``), and `rank_features` rejects dots in
feature names outright. Rather than escape the characters of every token (and get one case wrong),
a feature is named by the token's vocabulary id: digits only, identical at index and query time,
and shorter terms in the index. `tests/integration/test_feature_names.py` round-trips the whole
vocabulary through the real node.
"""

from __future__ import annotations

import math
import numbers
import struct
from typing import Any

import numpy as np

from nail_os.errors import NailOSError
from nail_os.tokens import Tokenizer

# Lucene's FeatureField stores a weight as its float32 bits shifted right by 15 (the sign bit is always
# 0), so 8 exponent and 8 mantissa bits survive, plus the implicit leading 1: 9 significant bits,
# truncated (relative error < 2^-8 ≈ 0.4%). It refuses values under Float.MIN_NORMAL.
FLOAT_MIN_NORMAL = 1.1754943508222875e-38
SIGNIFICANT_BITS = 9
# The largest float32; a weight past it cannot be packed (quantize_weight raises OverflowError).
FLOAT32_MAX = 3.4028234663852886e38
# Rounding adds half of the dropped 15 bits, and never goes past the largest finite float32 (bits 0x7F7FFFFF,
# kept as 0x7F7F8000).
_HALF, _KEEP, _LARGEST = 1 << 14, 0xFFFF8000, 0x7F7F8000
_F32 = struct.Struct(">f")
_U32 = struct.Struct(">I")
# The field that holds NAIL weights unless the caller names another (`--nail-field`): shared by the query side
# (queries.py) and the index side (mapping.py, documents.py), so it lives here, below both.
DEFAULT_NAIL_FIELD = "nail"


class FeatureError(NailOSError, ValueError):
    """A feature name or weight that cannot be indexed."""


def to_feature_name(token_id: int) -> str:
    """The feature name of a vocabulary id: its decimal digits (`2003` → `"2003"`)."""
    return str(token_id)


def from_feature_name(name: str) -> int:
    """The vocabulary id back from a feature name; raises FeatureError for a name we did not write."""
    if not name.isascii() or not name.isdigit():
        raise FeatureError(f"feature name {name!r} is not a token id written by nail-os")
    return int(name)


def token_features(
    weights: dict[str, float], tokenizer: Tokenizer, *, top_k: int | None = None, max_ratio: float | None = None
) -> dict[str, float]:
    """`{token: weight}` from an encoder → `{feature name: weight}` for the `rank_features` field.

    Raises FeatureError naming the first bad token (unknown to the vocabulary, or a weight that is NaN,
    infinite or negative). Zero weights and weights under Float.MIN_NORMAL are dropped: they add
    nothing to a dot product and Lucene refuses them. Pruning keeps the `top_k` largest weights and
    those ≥ `max_ratio` × the document's largest weight (OpenSearch's `max_ratio` pruning).
    Weights are rounded to the 9 significant bits the engine keeps (`quantize_weight`), so the index
    holds exactly the weights sent and in-process scoring of them reproduces the engine's ranking.
    """
    features = _fast_features(weights, tokenizer)
    if features is None:  # something to refuse, or an input the fast path does not take: check one by one
        features = _checked_features(weights, tokenizer)
    return prune(features, top_k=top_k, max_ratio=max_ratio)


def _checked_features(weights: dict[str, float], tokenizer: Tokenizer) -> dict[str, float]:
    """The reference path: each token and weight checked in order, so the first bad one is named."""
    items: list[tuple[str, float]] = []
    for token, weight in weights.items():
        if not isinstance(token, str) or token == "":
            raise FeatureError(f"feature name {token!r} is empty or not a string")
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise FeatureError(f"token {token!r} is not in the model's vocabulary")
        # JSON true/false and "0.5" would pass float(): a weight must be a number in the JSON itself.
        if isinstance(weight, (bool, str, bytes)) or not isinstance(weight, numbers.Real):
            raise FeatureError(f"weight for token {token!r} is {weight!r}, not a number")
        value = float(weight)
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise FeatureError(f"weight for token {token!r} is {value}; rank_features needs a finite value > 0")
        if value >= FLOAT_MIN_NORMAL:
            items.append((to_feature_name(token_id), quantize_weight(value)))
    return dict(items)


_PLAIN_NUMBERS = {float, int}


def _fast_features(weights: dict[str, float], tokenizer: Tokenizer) -> dict[str, float] | None:
    """`_checked_features` for the common case, all at once: known tokens, float weights in [0, FLOAT32_MAX].

    Returns None for anything else (an unknown or non-string token, a weight that is not a float, NaN,
    negative or too large); the reference path then refuses it with its exact message.
    """
    names = feature_names(tokenizer)
    if names is None or not weights:
        return None
    try:
        keys = [names[token] for token in weights]
    except (KeyError, TypeError):
        return None
    if not set(map(type, weights.values())) <= _PLAIN_NUMBERS:  # bools, strings, numpy scalars: checked path
        return None
    try:
        values = np.array(list(weights.values()))
    except (TypeError, ValueError, OverflowError):  # ragged nested values and the like
        return None
    # float64 only when at least one weight is a float (ints mixed in convert as float() does); all-int weights
    # and ints past int64 give another dtype and take the reference path.
    if values.dtype != np.float64 or values.shape != (len(keys),):
        return None
    if not bool(np.all((values >= 0) & (values <= FLOAT32_MAX))):  # NaN fails both comparisons
        return None
    keep = values >= FLOAT_MIN_NORMAL
    rounded = quantize_weights(values).tolist()
    if bool(keep.all()):
        return dict(zip(keys, rounded, strict=True))
    return {keys[i]: rounded[i] for i in np.flatnonzero(keep).tolist()}


def feature_names(tokenizer: Tokenizer) -> dict[str, str] | None:
    """`{token: feature name}` for the whole vocabulary, built once per tokenizer (None if it has no vocab)."""
    names: dict[str, str] | None = getattr(tokenizer, "_feature_names", None)
    if names is None:
        hf: Any = getattr(tokenizer, "hf", None)
        if hf is None or not hasattr(hf, "get_vocab"):
            return None
        names = {token: to_feature_name(token_id) for token, token_id in hf.get_vocab(with_added_tokens=True).items()}
        try:
            tokenizer._feature_names = names  # type: ignore[attr-defined]
        except AttributeError:  # a frozen or slotted stand-in: build it each time (still correct)
            pass
    return names


def prune(features: dict[str, float], *, top_k: int | None = None, max_ratio: float | None = None) -> dict[str, float]:
    """Keep the `top_k` largest weights and those ≥ `max_ratio` × the largest one."""
    if not features:
        return features
    if max_ratio is not None:
        floor = max(features.values()) * max_ratio
        features = {name: w for name, w in features.items() if w >= floor}
    if top_k is not None and len(features) > top_k:
        features = dict(sorted(features.items(), key=lambda kv: kv[1], reverse=True)[:top_k])
    return features


def _float_bits(value: float) -> int:
    return _U32.unpack(_F32.pack(value))[0]


def _bits_float(bits: int) -> float:
    return _F32.unpack(_U32.pack(bits))[0]


def stored_weight(value: float) -> float:
    """The weight as Lucene keeps it: float32 truncated to its upper 17 bits (9 significant bits)."""
    return _bits_float(_float_bits(value) >> 15 << 15)


def quantize_weight(value: float) -> float:
    """`value` rounded to the nearest weight the engine can store exactly (9 significant bits).

    Rounding halves Lucene's truncation error (≤ 2^-9 relative instead of < 2^-8), and a rounded
    weight is stored as is: what nail-os sends is what the index holds.
    """
    bits = min(_float_bits(value) + _HALF, _LARGEST)  # round half up; never past the largest float
    return _bits_float(bits & _KEEP)


def quantize_weights(values: np.ndarray) -> np.ndarray:
    """`quantize_weight` of every value at once (float64 in [0, FLOAT32_MAX] → float64), bit for bit.

    The cast to float32 rounds to nearest-even as `struct.pack(">f")` does; the rest is integer arithmetic
    on the float32 bits. Values past FLOAT32_MAX would become inf here where `quantize_weight` raises:
    callers check the range first.
    """
    bits = np.asarray(values, dtype=np.float64).astype(np.float32).view(np.uint32)
    bits = np.minimum(bits + np.uint32(_HALF), np.uint32(_LARGEST)) & np.uint32(_KEEP)
    return bits.view(np.float32).astype(np.float64)
