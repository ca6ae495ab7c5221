"""Long documents are read in windows whose weights merge by max; short ones keep fewer tokens on request."""

from __future__ import annotations

import pytest

from nail_os.model import DocumentEncoder, load_model

LONG = " ".join(
    f"Section {i}: the kernel scheduler assigns {w} threads to cores and balances load across sockets."
    for i, w in enumerate(["idle", "realtime", "batch", "interactive", "deadline", "fifo"] * 12)
)


@pytest.fixture(scope="module")
def encoder() -> DocumentEncoder:
    return load_model("splade-tiny", device="cpu", decimals=None, max_length=64, window_overlap=8)


def test_a_long_text_weighs_each_token_by_its_best_window(encoder: DocumentEncoder) -> None:
    ids = encoder._doc_tokenizer.encode(LONG).ids
    windows = encoder.windows(ids)
    assert len(windows) > 1 and all(len(w) <= encoder.max_length for w in windows)
    # Neighbouring windows share `window_overlap` tokens, and together they cover the text in order.
    body = ids[1:-1]
    assert windows[0][1:-1] == body[:62] and windows[1][1:9] == body[54:62]
    per_window = encoder._encode_windows(windows, batch_size=4, show_progress=False)
    merged: dict[str, float] = {}
    for weights in per_window:
        for token, w in weights.items():
            merged[token] = max(w, merged.get(token, 0.0))
    expected = dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[: encoder.top_k])
    (got,) = encoder.encode_documents([LONG])
    assert got == pytest.approx(expected)
    # The windows see words the first one never reads.
    (first,) = encoder._encode_windows([windows[0]], batch_size=1, show_progress=False)
    assert set(got) - set(first)


def test_one_window_is_truncation() -> None:
    truncating = load_model("splade-tiny", device="cpu", decimals=None, max_length=64, max_windows=1)
    ids = truncating._doc_tokenizer.encode(LONG).ids
    assert len(ids) == 64 and truncating.windows(ids) == [ids]


def test_length_aware_top_k_keeps_fewer_tokens_for_short_texts() -> None:
    enc = load_model("splade-tiny", device="cpu", decimals=None, top_k_per_token=2.0, min_top_k=8)
    short, long_ = enc.encode_documents(["espresso machine", LONG])
    assert len(short) == 8  # 2 tokens x 2 is under the floor
    assert len(long_) == enc.top_k
    assert enc.keep(1000) == enc.top_k and enc.keep(40) == 80
    full = load_model("splade-tiny", device="cpu", decimals=None).encode_documents(["espresso machine"])[0]
    assert short == pytest.approx(dict(sorted(full.items(), key=lambda kv: (-kv[1], kv[0]))[:8]), rel=1e-4)


def test_window_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_windows"):
        load_model("splade-tiny", device="cpu", max_windows=0)
    with pytest.raises(ValueError, match="top_k_per_token"):
        load_model("splade-tiny", device="cpu", top_k_per_token=0.0)
