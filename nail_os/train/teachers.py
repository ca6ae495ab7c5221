"""Teacher scores for distillation: a dense bi-encoder and a siamese SPLADE, run once before training.

- dense: all-MiniLM-L6-v2, the reference dense model of this project, and all-mpnet-base-v2, the stronger one
  (both mean pooling, L2-normalised, cosine);
- sparse: splade-tiny (BertForMaskedLM, max-pooled log1p(relu) over input positions, query encoded too).
Each teacher scores every stage-2 query's candidate list once; the loop reads the scores from
`Stage2Query.teacher` and never runs a teacher during training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from nail_os.model.encode import batch_tensors
from nail_os.model.nail import document_tokenizer
from nail_os.train.data import Stage2Query


def _batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Index batches sorted by length, so padding is small (order is restored by the callers)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def dense_embeddings(
    folder: str | Path, texts: Sequence[str], device: torch.device, batch_size: int = 256, max_length: int = 256
) -> torch.Tensor:
    """Mean-pooled, L2-normalised embeddings of a sentence-transformers folder, shape (N, H), fp16.

    Any encoder transformers knows (BERT for all-MiniLM-L6-v2, MPNet for all-mpnet-base-v2) loads through
    AutoModel; both sentence-transformers models pool by the mean over tokens and compare by cosine.
    """
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), add_pooling_layer=False).to(device).eval()
    tok = document_tokenizer(Path(folder, "tokenizer.json").read_text(encoding="utf-8"), max_length)
    pad_id = model.config.pad_token_id or 0  # MPNet pads with 1: its position ids skip the pad token
    out = torch.empty((len(texts), model.config.hidden_size), dtype=torch.float16, device=device)
    for idx in _batches(texts, batch_size):
        batch = batch_tensors([e.ids for e in tok.encode_batch([texts[i] for i in idx])], device, pad_id)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            hidden = model(**batch).last_hidden_state.float()  # shape (b, L, H)
        mask = batch["attention_mask"].unsqueeze(-1).float()
        emb = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # shape (b, H)
        out[torch.as_tensor(idx, device=device)] = torch.nn.functional.normalize(emb, dim=-1).half()
    del model
    return out


@torch.no_grad()
def splade_vectors(
    folder: str | Path,
    texts: Sequence[str],
    device: torch.device,
    batch_size: int = 128,
    max_length: int = 256,
    top_k: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-`top_k` SPLADE weights of each text: token ids (N, k) int64 and weights (N, k) fp32."""
    from nail_os.model.nail import NailModel

    model = NailModel.from_pretrained_encoder(str(folder), architecture="splade").to(device).eval()
    ids = torch.zeros((len(texts), top_k), dtype=torch.long, device=device)
    vals = torch.zeros((len(texts), top_k), dtype=torch.float32, device=device)
    for idx in _batches(texts, batch_size):
        batch = model.tokenize([texts[i] for i in idx], max_length)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            weights = model(**batch).float()  # shape (b, V)
        top = weights.topk(top_k, dim=-1)
        rows = torch.as_tensor(idx, device=device)
        ids[rows], vals[rows] = top.indices, top.values
    del model
    return ids, vals


def _sparse_dot(q_ids: torch.Tensor, q_vals: torch.Tensor, d_ids: torch.Tensor, d_vals: torch.Tensor) -> torch.Tensor:
    """Σ_t q_t d_t for aligned rows of top-k sparse vectors: (n, kq) and (n, kd) -> (n,)."""
    match = q_ids[:, :, None] == d_ids[:, None, :]  # shape (n, kq, kd)
    prod = q_vals[:, :, None] * d_vals[:, None, :]
    return (prod * match).sum(dim=(1, 2))


def score_candidates(
    queries: list[Stage2Query],
    doc_texts: Sequence[str],
    teachers: dict[str, str | Path],
    device: torch.device,
    log: Callable[[str], None] = print,
    chunk: int = 4096,
) -> list[str]:
    """Fill `q.teacher` (num_teachers, num_candidates) for every query; returns the teacher names in order.

    Args:
        teachers: name -> model folder; a name starting with "splade" is scored as siamese SPLADE, "bm25" takes
            the queries' own `bm25` scores, any other is a dense mean-pooling bi-encoder.
    """
    needed = sorted({d for q in queries for d in q.candidates})
    row_of = {d: i for i, d in enumerate(needed)}
    texts = [doc_texts[d] for d in needed]
    q_texts = [q.query for q in queries]
    pair_q = np.concatenate([np.full(len(q.candidates), i) for i, q in enumerate(queries)])
    pair_d = np.concatenate([[row_of[d] for d in q.candidates] for q in queries])
    names, columns = [], []
    for name, folder in teachers.items():
        scores = torch.empty(len(pair_q), dtype=torch.float32)
        if name == "bm25":  # computed with the candidates (Stage2Query.bm25): nothing to run
            missing = sum(q.bm25 is None for q in queries)
            if missing:
                raise ValueError(f"teacher bm25: {missing} queries have no BM25 candidate scores")
            scores = torch.as_tensor(np.concatenate([q.bm25 for q in queries]), dtype=torch.float32)
        elif name.startswith("splade"):
            d_ids, d_vals = splade_vectors(folder, texts, device)
            q_ids, q_vals = splade_vectors(folder, q_texts, device, max_length=64, top_k=64)
            for s in range(0, len(pair_q), chunk):
                qi = torch.as_tensor(pair_q[s : s + chunk], device=device)
                di = torch.as_tensor(pair_d[s : s + chunk], device=device)
                scores[s : s + chunk] = _sparse_dot(q_ids[qi], q_vals[qi], d_ids[di], d_vals[di]).cpu()
        else:
            d_emb = dense_embeddings(folder, texts, device)
            q_emb = dense_embeddings(folder, q_texts, device, max_length=64)
            for s in range(0, len(pair_q), chunk):
                qi = torch.as_tensor(pair_q[s : s + chunk], device=device)
                di = torch.as_tensor(pair_d[s : s + chunk], device=device)
                scores[s : s + chunk] = (q_emb[qi].float() * d_emb[di].float()).sum(-1).cpu()
        log(f"teacher {name}: scored {len(pair_q)} query-candidate pairs ({len(texts)} docs)")
        names.append(name)
        columns.append(scores.numpy())
    stacked = np.stack(columns)  # shape (T, num_pairs)
    start = 0
    for q in queries:
        n = len(q.candidates)
        q.teacher = stacked[:, start : start + n].copy()
        start += n
    return names
