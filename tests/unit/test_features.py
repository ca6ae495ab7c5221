"""Feature names and weights: what rank_features accepts, and how tokens map onto it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nail_os.features import (
    FeatureError,
    from_feature_name,
    prune,
    quantize_weight,
    stored_weight,
    to_feature_name,
    token_features,
)


def test_feature_name_of_a_dotted_token_has_no_dot(tokenizer):
    token_id = tokenizer.token_to_id("u")
    dot = tokenizer.token_to_id(".")
    assert to_feature_name(dot) == str(dot)
    assert "." not in to_feature_name(token_id)


@given(st.integers(min_value=0, max_value=10**9))
def test_feature_name_round_trips(token_id):
    name = to_feature_name(token_id)
    assert name.isdigit() and from_feature_name(name) == token_id


@pytest.mark.parametrize("name", ["", "u.s.", "12a", "-3", "١٢"])
def test_foreign_feature_names_are_refused(name):
    with pytest.raises(FeatureError):
        from_feature_name(name)


def test_token_features_names_by_id(tokenizer):
    features = token_features({"coffee": 1.5, ".": 0.25}, tokenizer)
    assert features == {str(tokenizer.token_to_id("coffee")): 1.5, str(tokenizer.token_to_id(".")): 0.25}


@pytest.mark.parametrize("weight", [math.nan, math.inf, -1.0, "x"])
def test_bad_weights_name_the_token(tokenizer, weight):
    with pytest.raises(FeatureError, match="coffee"):
        token_features({"coffee": weight}, tokenizer)


def test_zero_and_subnormal_weights_are_dropped(tokenizer):
    assert token_features({"coffee": 0.0, "tea": 1e-40, "milk": 0.5}, tokenizer) == {
        str(tokenizer.token_to_id("milk")): 0.5
    }


def test_unknown_and_empty_tokens_are_refused(tokenizer):
    with pytest.raises(FeatureError, match="vocabulary"):
        token_features({"notatoken_xyz": 1.0}, tokenizer)
    with pytest.raises(FeatureError, match="empty"):
        token_features({"": 1.0}, tokenizer)


def test_prune_top_k_and_max_ratio():
    features = {"1": 4.0, "2": 2.0, "3": 0.3, "4": 1.0}
    assert prune(features, top_k=2) == {"1": 4.0, "2": 2.0}
    assert prune(features, max_ratio=0.25) == {"1": 4.0, "2": 2.0, "4": 1.0}
    assert prune(features, top_k=1, max_ratio=0.25) == {"1": 4.0}


@given(st.floats(min_value=1.2e-38, max_value=1e30, allow_nan=False, allow_infinity=False))
def test_stored_weight_keeps_nine_significant_bits(value):
    kept = stored_weight(value)
    assert kept <= value * (1 + 1e-7)
    assert (value - kept) / value < 2**-8


@given(st.floats(min_value=1.2e-38, max_value=1e30, allow_nan=False, allow_infinity=False))
def test_quantized_weights_are_stored_exactly_and_closer(value):
    q = quantize_weight(value)
    assert stored_weight(q) == q
    assert abs(q - value) <= abs(stored_weight(value) - value) + 1e-45
    assert abs(q - value) / value <= 2**-9 * (1 + 1e-6)


def test_token_features_sends_what_the_index_keeps(tokenizer):
    features = token_features({"coffee": 1.2345678}, tokenizer)
    (weight,) = features.values()
    assert weight == stored_weight(weight) and abs(weight - 1.2345678) < 1.2345678 * 2**-9
