"""In-process evaluation for model selection: exact sparse dot products (scipy), BM25, fused, ir_measures.

Documents are encoded by the model and truncated to its top-k tokens (as indexing does); queries are token
bags × query weights (as `nail_os.tokens` builds them). Scores are exact: one sparse matrix product, no
pruning. Metrics come from ir_measures (nDCG@10, R@100). The *fused* run is a weighted sum of per-query
min-max-normalised BM25 and NAIL scores over the union of both top-100 lists (a document missing from one
list gets 0 from it), the same fusion as OpenSearch's min_max normalization processor with arithmetic_mean.
It is called fused, not hybrid: `nail_os.evaluation`'s *hybrid* is the engine's raw weighted sum of the two scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from nail_os.model.encode import batch_tensors
from nail_os.model.nail import document_tokenizer
from nail_os.train.bm25 import BM25Index, top_k_rows
from nail_os.train.data import BeirDataset, query_bags, query_tokenizer

MEASURES = ("nDCG@10", "R@100")
DEPTH = 100  # run depth: R@100 needs 100, and the fusion reads both top-100 lists

# query id -> {doc id: score}, the form ir_measures reads. Not `nail_os.evaluation.metrics.Run` (ranked lists).
ScoredRun = dict[str, dict[str, float]]


@torch.no_grad()
def encode_corpus(
    model: torch.nn.Module, texts: Sequence[str], device: torch.device, batch_size: int = 64
) -> sp.csr_matrix:
    """(num_docs, V) CSR of each document's top-k positive weights, the vectors an index would hold."""
    cfg = model.config
    tok = document_tokenizer(model.tokenizer_json, cfg.max_length)
    encs = tok.encode_batch(list(texts))
    order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
    was_training = model.training
    model.eval()
    rows, cols, vals = [], [], []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = batch_tensors([encs[i].ids for i in idx], device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            weights = model(**batch).float()  # shape (b, V)
        top = weights.topk(min(cfg.top_k, weights.shape[1]), dim=-1)
        keep = top.values > 0
        r = torch.as_tensor(idx, device=device)[:, None].expand_as(keep)[keep]
        rows.append(r.cpu().numpy())
        cols.append(top.indices[keep].cpu().numpy())
        vals.append(top.values[keep].cpu().numpy())
    model.train(was_training)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(texts), cfg.vocab_size),
        dtype=np.float32,
    )


def encode_queries(
    tokenizer_json: str, texts: Sequence[str], weights: np.ndarray, special_ids: Sequence[int]
) -> sp.csr_matrix:
    """(num_queries, V) CSR of count × query weight per distinct query token."""
    bags = query_bags(query_tokenizer(tokenizer_json), texts, frozenset(special_ids))
    rows, cols, vals = [], [], []
    for row, bag in enumerate(bags):
        for token, count in bag.items():
            rows.append(row)
            cols.append(token)
            vals.append(count * float(weights[token]))
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(weights)), dtype=np.float32)


def to_run(
    query_ids: Sequence[str], doc_ids: Sequence[str], idx: np.ndarray, val: np.ndarray, exclude_self: bool = False
) -> ScoredRun:
    run: ScoredRun = {}
    for row, qid in enumerate(query_ids):
        hits = {}
        for d, s in zip(idx[row], val[row], strict=True):
            if d < 0 or (exclude_self and doc_ids[d] == qid):
                continue
            hits[doc_ids[d]] = float(s)
        run[qid] = hits
    return run


def fuse(bm25: ScoredRun, nail: ScoredRun, bm25_weight: float) -> ScoredRun:
    """Weighted sum of per-query min-max-normalised scores; absent from a list means 0 from it."""

    def norm(hits: dict[str, float]) -> dict[str, float]:
        if not hits:
            return {}
        lo, hi = min(hits.values()), max(hits.values())
        span = hi - lo if hi > lo else 1.0
        return {d: (s - lo) / span for d, s in hits.items()}

    fused: ScoredRun = {}
    for qid in set(bm25) | set(nail):
        b, n = norm(bm25.get(qid, {})), norm(nail.get(qid, {}))
        fused[qid] = {d: bm25_weight * b.get(d, 0.0) + (1 - bm25_weight) * n.get(d, 0.0) for d in set(b) | set(n)}
    return fused


def measure(qrels: dict[str, dict[str, int]], run: ScoredRun) -> dict[str, float]:
    import ir_measures

    measures = [ir_measures.parse_measure(m) for m in MEASURES]
    judged = {q: r for q, r in run.items() if q in qrels}
    # Queries with no hits still count (as 0): give them an empty ranking by a dummy never-relevant doc.
    for q in qrels:
        judged.setdefault(q, {"__none__": 0.0})
    agg = ir_measures.calc_aggregate(measures, qrels, judged)
    return {str(m): float(agg[m]) for m in measures}


def evaluate_dataset(
    model: torch.nn.Module,
    dataset: BeirDataset,
    split: str,
    query_weights: np.ndarray,
    device: torch.device,
    hybrid_weights: Sequence[float] = (0.5,),
    bm25_cache: dict[tuple[str, str], ScoredRun] | None = None,
    query_ids: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """BM25, NAIL and fused(w) metrics on one split: {"bm25": {...}, "nail": {...}, "fused@0.5": {...}}.

    `hybrid_weights` (the name `TrainConfig` and its JSON files use) are the BM25 weights of the fused runs.

    Also reports the mean number of stored tokens per document under "nail" as "doc_tokens".
    """
    qrels = dataset.qrels[split]
    qids = list(query_ids) if query_ids is not None else [q for q in qrels if q in dataset.queries]
    qrels = {q: qrels[q] for q in qids}
    texts = [dataset.queries[q] for q in qids]
    key = (dataset.name, split)
    if bm25_cache is not None and key in bm25_cache:
        bm25_run = bm25_cache[key]
    else:
        idx, val = BM25Index.build(dataset.doc_texts).search(texts, DEPTH)
        bm25_run = to_run(qids, dataset.doc_ids, idx, val)
        if bm25_cache is not None:
            bm25_cache[key] = bm25_run
    docs = encode_corpus(model, dataset.doc_texts, device)
    queries = encode_queries(model.tokenizer_json, texts, query_weights, model.config.special_token_ids)
    scores = (queries @ docs.T).toarray()  # shape (num_queries, num_docs), exact dot products
    idx, val = top_k_rows(scores, DEPTH)
    nail_run = to_run(qids, dataset.doc_ids, idx, val)
    out = {"bm25": measure(qrels, bm25_run), "nail": measure(qrels, nail_run)}
    out["nail"]["doc_tokens"] = float(docs.getnnz() / max(docs.shape[0], 1))
    for w in hybrid_weights:
        out[f"fused@{w:g}"] = measure(qrels, fuse(bm25_run, nail_run, w))
    return out
