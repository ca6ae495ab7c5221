"""Training losses: contrastive cross-entropy, distillation (KL and Margin-MSE) and the FLOPS regulariser.

Scores are inference-free: score(q, d) = Σ_t q_t · d_t with q_t = count × query weight (IDF) and d_t the
model's document weight, so a batch's scores are one matrix product `queries @ docs.T`.

>>> import torch
>>> flops_loss(torch.tensor([[1.0, 0.0], [3.0, 2.0]]))  # mean per token (2, 1) -> 2² + 1²
tensor(5.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(scores: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax cross-entropy of each query's positive against every other column.

    Args:
        scores: (B_q, B_d) query-document scores: each query's own positive and hard negatives plus every
            other query's documents (in-batch negatives).
        target: (B_q,) column of each query's positive.
        mask: (B_q, B_d) True where a column must not count as a negative (another known positive of the
            query, e.g. in-batch documents that the qrels also mark relevant for it).
    """
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return F.cross_entropy(scores, target)


def minmax_normalize(scores: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each row scaled to [0, 1] (max-min per row), so teachers on different scales can be averaged."""
    low = scores.amin(dim=-1, keepdim=True)
    high = scores.amax(dim=-1, keepdim=True)
    return (scores - low) / (high - low).clamp_min(eps)


def ensemble_teacher(teacher_scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean of min-max-normalised teachers, per query and candidate list.

    Heterogeneous ensemble as in arXiv 2411.04403 (section 3.2): dense cosine scores and sparse dot products
    live on different scales, so each is normalised per query before the weighted sum.

    Args:
        teacher_scores: (T, B_q, C) scores of T teachers for each query's C candidates.
        weights: (T,) non-negative teacher weights.
    Returns:
        (B_q, C) ensemble scores in [0, 1].
    """
    norm = minmax_normalize(teacher_scores)  # shape (T, B_q, C)
    w = weights / weights.sum()
    return (norm * w[:, None, None]).sum(dim=0)


def kl_distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """KL(teacher ‖ student) over each query's candidate list.

    Args:
        student: (B_q, C) student scores (raw dot products; their scale is the student's own).
        teacher: (B_q, C) teacher scores in [0, 1] (`ensemble_teacher`), sharpened by `temperature`.
    """
    target = F.softmax(teacher / temperature, dim=-1)
    return F.kl_div(F.log_softmax(student, dim=-1), target, reduction="batchmean")


def margin_mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Margin-MSE (Hofstätter et al., arXiv 2010.02666): match (pos − neg) margins of teacher and student.

    Args:
        student: (B_q, C) scores with the positive in column 0.
        teacher: (B_q, C) teacher scores on the student's scale, positive in column 0.

    >>> margin_mse_loss(torch.tensor([[3.0, 1.0]]), torch.tensor([[2.0, 1.0]]))  # (2 - 1)²
    tensor(1.)
    """
    s_margin = student[:, :1] - student[:, 1:]  # shape (B_q, C-1)
    t_margin = teacher[:, :1] - teacher[:, 1:]
    return F.mse_loss(s_margin, t_margin)


def flops_loss(doc_weights: torch.Tensor, token_penalty: torch.Tensor | None = None) -> torch.Tensor:
    """FLOPS regulariser (Paria et al., arXiv 2004.05665): Σ_t (mean over the batch of w_{d,t})².

    It approximates the expected number of postings a query walks and pushes rarely useful tokens to
    zero across the batch. With an IDF-weighted query side (arXiv 2411.04403, "IDF-aware FLOPS") the ranking
    gradient of token t is scaled by idf(t) while this penalty is not, so frequent low-IDF tokens are
    pruned first and rare informative ones survive. `token_penalty` (V,) optionally rescales the penalty
    per token on top of that.

    Args:
        doc_weights: (B_d, V) non-negative document weights.
        token_penalty: (V,) per-token penalty weights, default 1.
    """
    mean = doc_weights.abs().mean(dim=0)  # shape (V,)
    per_token = mean * mean
    if token_penalty is not None:
        per_token = per_token * token_penalty
    return per_token.sum()


def quadratic_warmup(step: int, total: int, final: float) -> float:
    """SPLADE's schedule for the FLOPS weight: final · min(1, step / total)²; `total` 0 means no warm-up."""
    if total <= 0:
        return final
    return final * min(1.0, step / total) ** 2
