"""The vectorised feature path (cached names, numpy rounding) against the per-weight reference, bit for bit."""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import pytest

from nail_os.documents import DocumentError, nail_features
from nail_os.features import (
    FLOAT32_MAX,
    FLOAT_MIN_NORMAL,
    FeatureError,
    _checked_features,
    feature_names,
    quantize_weight,
    quantize_weights,
    token_features,
)


def reference_quantize(value: float) -> float:
    """`quantize_weight` as it was first written (two struct round trips per weight)."""
    bits = struct.unpack(">I", struct.pack(">f", value))[0]
    bits = min(bits + (1 << 14), 0x7F7F8000)
    return struct.unpack(">f", struct.pack(">I", bits >> 15 << 15))[0]


def _bits(value: float) -> int:
    return struct.unpack(">Q", struct.pack(">d", value))[0]


EDGES = [
    0.0,
    5e-324,
    1e-45,
    1.4e-45,
    FLOAT_MIN_NORMAL,
    math.nextafter(FLOAT_MIN_NORMAL, 0),
    1e-38,
    1.2e-38,
    math.nextafter(FLOAT_MIN_NORMAL, 1),
    1e-30,
    0.1,
    0.25,
    0.5,
    1.0,
    1.5,
    2.0,
    3.0,
    1.2345678,
    1.00390625,
    1.001953125,
    math.nextafter(1.001953125, 0),
    math.nextafter(1.001953125, 2),
    1.0 + 2**-9 + 2**-24,
    1.0 + 2**-9 - 2**-30,
    65504.0,
    1e10,
    3.0e38,
    3.4e38,
    3.4028e38,
    FLOAT32_MAX,
    math.nextafter(FLOAT32_MAX, 0),
    3.4028234e38,
]


def _random_floats(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    parts = [
        rng.random(n),  # [0, 1)
        rng.random(n) * 10,
        np.exp(rng.uniform(-87, 88, n)),  # every exponent of a normal float32
        rng.integers(0x00800000, 0x7F7FFFFF, n, dtype=np.uint32).view(np.float32).astype(np.float64),
        # float32 values whose dropped bits are exactly the rounding half, and their neighbours
        ((rng.integers(0x0080, 0x7F7F, n, dtype=np.uint32) << 15) | 0x4000).view(np.float32).astype(np.float64),
        ((rng.integers(0x0080, 0x7F7F, n, dtype=np.uint32) << 15) | 0x3FFF).view(np.float32).astype(np.float64),
        # float64 values between two float32s (the cast rounds them first)
        rng.integers(0x00800000, 0x7F7FFFFF, n, dtype=np.uint32).view(np.float32).astype(np.float64)
        * (1 + rng.uniform(-(2**-24), 2**-24, n)),
        np.round(rng.random(n) * 3, 4),  # what encode_corpus writes (4 decimals)
    ]
    values = np.concatenate(parts)
    return values[(values >= 0) & (values <= FLOAT32_MAX)]


def test_quantize_weight_is_unchanged():
    for value in [*EDGES, *_random_floats(20_000).tolist()]:
        assert _bits(quantize_weight(value)) == _bits(reference_quantize(value)), value


def test_quantize_weights_matches_the_scalar_bit_for_bit():
    values = np.concatenate([np.asarray(EDGES), _random_floats(200_000)])
    fast = quantize_weights(values)
    slow = np.array([reference_quantize(v) for v in values.tolist()])
    assert fast.dtype == np.float64
    assert np.array_equal(fast.view(np.uint64), slow.view(np.uint64))


def test_quantize_weight_still_overflows_past_float32():
    with pytest.raises(OverflowError):
        quantize_weight(3.5e38)


def test_feature_names_cover_the_vocabulary(tokenizer):
    names = feature_names(tokenizer)
    assert names is feature_names(tokenizer)  # built once per tokenizer
    vocab = tokenizer.hf.get_vocab(with_added_tokens=True)
    assert len(names) == len(vocab)
    assert all(names[token] == str(tokenizer.token_to_id(token)) for token in vocab)


def test_fast_path_equals_reference_on_random_documents(tokenizer):
    rng = np.random.default_rng(3)
    vocab = sorted(tokenizer.hf.get_vocab(with_added_tokens=True))
    weights_pool = np.concatenate([EDGES, _random_floats(2_000)])
    for _ in range(300):
        tokens = rng.choice(len(vocab), size=int(rng.integers(1, 300)), replace=False)
        weights = {vocab[t]: float(rng.choice(weights_pool)) for t in tokens.tolist()}
        if rng.random() < 0.2:  # a few integer weights mixed in, as JSON may give them
            weights[vocab[int(tokens[0])]] = int(rng.integers(0, 5))
        fast = token_features(weights, tokenizer)
        slow = _checked_features(weights, tokenizer)
        assert list(fast) == list(slow)
        assert [_bits(v) for v in fast.values()] == [_bits(v) for v in slow.values()]
        assert all(type(v) is float for v in fast.values())


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"coffee": 1.0, "tea": math.nan}, "tea"),
        ({"coffee": 1.0, "tea": -0.5}, "tea"),
        ({"coffee": math.inf}, "coffee"),
        ({"coffee": 1.0, "tea": "x"}, "tea"),
        ({"coffee": 1.0, "tea": None}, "tea"),
        ({"coffee": 1.0, "tea": [1.0]}, "tea"),
        ({"coffee": 1.0, "notatoken_xyz": 1.0}, "vocabulary"),
        ({"coffee": 1.0, "": 1.0}, "empty"),
    ],
)
def test_fast_path_refuses_what_the_reference_refuses(tokenizer, weights, message):
    with pytest.raises(FeatureError, match=message):
        token_features(weights, tokenizer)


def test_int_weights_are_numbers_but_json_strings_and_booleans_are_not(tokenizer):
    ints = {"coffee": 1, "tea": 2.0}
    assert token_features(ints, tokenizer) == _checked_features(ints, tokenizer) == {"4157": 1.0, "5572": 2.0}
    # float("1.5") and float(True) would pass: a weight must be a JSON number, on both paths alike
    for bad in ("1.5", True, False, None, [1.0]):
        with pytest.raises(FeatureError, match=f"weight for token 'coffee' is {re.escape(repr(bad))}, not a number"):
            token_features({"tea": 2.0, "coffee": bad}, tokenizer)


def test_too_large_and_surrogate_still_become_document_errors(tokenizer):
    with pytest.raises(DocumentError, match="float32"):
        nail_features({"coffee": 1.0, "tea": 1e39}, tokenizer)
    with pytest.raises(DocumentError, match="float32"):
        nail_features({"coffee": 10**400}, tokenizer)
    with pytest.raises(DocumentError, match="Unicode"):
        nail_features({"coffee": 1.0, "\ud800": 1.0}, tokenizer)
