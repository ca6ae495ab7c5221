"""The model's tokenizer on the query side: tokenizer.json through the `tokenizers` package, no torch.

A query is only tokenized: its score is the sum of the document's weights for its tokens
(NAIL, arXiv 2305.14499, section 3). Duplicate tokens are counted, not repeated, and optional
per-token query weights (for example IDF over the training corpus) saved with the model become boosts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer as _HFTokenizer

TOKENIZER_FILE = "tokenizer.json"
QUERY_WEIGHTS_FILE = "query_weights.json"


@dataclass(frozen=True)
class QueryToken:
    """One distinct query token: its vocabulary id, text, count in the query and query-side weight."""

    token_id: int
    token: str
    count: int
    weight: float = 1.0

    @property
    def boost(self) -> float:
        return self.count * self.weight


@dataclass
class Tokenizer:
    """A model folder's tokenizer plus its optional query weights.

    >>> tok = Tokenizer.from_model_dir("nail_os/checkpoints/nail-minilm")  # doctest: +SKIP
    >>> [t.token for t in tok.tokenize_query("U.S. coffee, coffee")]  # doctest: +SKIP
    ['u', '.', 's', 'coffee']
    """

    hf: _HFTokenizer
    query_weights: dict[int, float] = field(default_factory=dict)
    special_ids: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        # tokenizer.json files often carry the encoder's truncation (512) and padding: a query keeps every
        # token, and the clause limit decides what is pruned (queries.select_tokens).
        self.hf.no_truncation()
        self.hf.no_padding()
        # [CLS], [SEP], [PAD], [MASK], [UNK]...: they never carry meaning in a query or a document.
        vocab = self.hf.get_vocab(with_added_tokens=True)
        self.special_ids = frozenset(i for tok, i in vocab.items() if tok.startswith("[") and tok.endswith("]"))

    @classmethod
    def from_model_dir(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        tok_file = path / TOKENIZER_FILE
        if not tok_file.is_file():
            raise FileNotFoundError(f"{tok_file}: no tokenizer.json in the model folder {path}")
        hf = _HFTokenizer.from_file(str(tok_file))
        weights: dict[int, float] = {}
        weights_file = path / QUERY_WEIGHTS_FILE
        if weights_file.is_file():
            raw = json.loads(weights_file.read_text(encoding="utf-8"))
            weights = {int(k): float(v) for k, v in raw.items()}
        return cls(hf=hf, query_weights=weights)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    def id_to_token(self, token_id: int) -> str:
        tok = self.hf.id_to_token(token_id)
        if tok is None:
            raise KeyError(f"token id {token_id} is outside the vocabulary (size {self.vocab_size})")
        return tok

    def token_to_id(self, token: str) -> int | None:
        return self.hf.token_to_id(token)

    def query_token_ids(self, text: str) -> Counter[int]:
        """Each distinct non-special token id of `text` with its count, in first-seen order."""
        ids = self.hf.encode(text, add_special_tokens=False).ids
        return Counter(i for i in ids if i not in self.special_ids)

    def tokenize_query(self, text: str, weights: Mapping[int, float] | None = None) -> list[QueryToken]:
        """Distinct tokens of `text`, in first-seen order, with counts and query weights.

        `weights` (token id -> weight, e.g. IDF over the searched index, `nail_os.statistics`) replace the
        model's own query weights; a token missing from both weighs 1. Special tokens ([CLS], [SEP],
        [UNK]...) are dropped: a query in a script the vocabulary does not cover yields no tokens rather
        than a clause on [UNK].
        """
        table = self.query_weights if weights is None else weights
        return [
            QueryToken(i, self.id_to_token(i), c, table.get(i, 1.0)) for i, c in self.query_token_ids(text).items()
        ]
