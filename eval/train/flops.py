"""GFLOP to encode one document, per architecture and length: the pooling head scores the vocabulary at every input
token, the NAIL decoder at its P positions only. Multiply-adds count 2; LayerNorms, softmax and activations are
left out (under 1%). Usage: python eval/train/flops.py"""

from __future__ import annotations

H, FFN, V = 384, 1536, 30522  # all-MiniLM-L6-v2's width, feed-forward width and vocabulary


def layer(n: int, keys: int | None = None) -> float:
    """One post-LN BERT layer over n positions attending to `keys` positions (default: themselves)."""
    keys = n if keys is None else keys
    return n * (8 * H * H + 4 * H * FFN + 4 * keys * H)


def head(n: int) -> float:
    return n * (2 * H * H + 2 * H * V)


def pooling(n: int, layers: int = 6) -> float:
    return layers * layer(n) + head(n)


def nail(n: int, positions: int, enc_layers: int = 4, dec_layers: int = 2) -> float:
    per_dec = layer(positions) + positions * (4 * H * H + 4 * n * H) + n * 4 * H * H  # + cross-attention
    return enc_layers * layer(n) + dec_layers * per_dec + head(positions)


if __name__ == "__main__":
    print("| document tokens | pooling (6 layers) | NAIL 4+2 layers, P=16 | P=64 | P=128 |")
    print("|---|---|---|---|---|")
    for n in (32, 64, 128, 256):
        cells = [pooling(n)] + [nail(n, p) for p in (16, 64, 128)]
        print(f"| {n} | " + " | ".join(f"{c / 1e9:.2f}" for c in cells) + " |")
