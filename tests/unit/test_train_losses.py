"""Training losses on tensors small enough to check by hand."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from nail_os.train.losses import (  # noqa: E402
    contrastive_loss,
    ensemble_teacher,
    flops_loss,
    kl_distillation_loss,
    margin_mse_loss,
    minmax_normalize,
    quadratic_warmup,
)


def test_flops_is_sum_of_squared_mean_weights():
    # Token means over the 2 documents: (0.5, 1.5, 0.0) -> 0.25 + 2.25 + 0 = 2.5
    docs = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    assert flops_loss(docs).item() == pytest.approx(2.5)


def test_flops_token_penalty_scales_each_token():
    docs = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    penalty = torch.tensor([2.0, 0.0, 5.0])  # 2 * 0.25 + 0 * 2.25 + 5 * 0
    assert flops_loss(docs, penalty).item() == pytest.approx(0.5)


def test_flops_of_all_zero_documents_is_zero():
    assert flops_loss(torch.zeros(4, 10)).item() == 0.0


def test_margin_mse_matches_margins():
    student = torch.tensor([[3.0, 1.0, 2.0]])  # margins (2, 1)
    teacher = torch.tensor([[5.0, 4.0, 5.0]])  # margins (1, 0)
    assert margin_mse_loss(student, teacher).item() == pytest.approx(((2 - 1) ** 2 + (1 - 0) ** 2) / 2)


def test_margin_mse_is_zero_when_margins_agree_despite_offset():
    student = torch.tensor([[10.0, 7.0]])
    teacher = torch.tensor([[4.0, 1.0]])
    assert margin_mse_loss(student, teacher).item() == 0.0


def test_contrastive_loss_is_log_softmax_of_positive():
    scores = torch.tensor([[2.0, 0.0, 0.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert contrastive_loss(scores, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_mask_removes_false_negatives():
    scores = torch.tensor([[2.0, 5.0, 0.0]])
    mask = torch.tensor([[False, True, False]])  # column 1 is another positive of this query
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert contrastive_loss(scores, torch.tensor([0]), mask).item() == pytest.approx(expected, rel=1e-6)


def test_minmax_normalize_rows():
    out = minmax_normalize(torch.tensor([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]]))
    assert out[0].tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert out[1].tolist() == [0.0, 0.0, 0.0]  # a constant row stays finite


def test_ensemble_teacher_averages_normalised_scores():
    dense = torch.tensor([[[0.9, 0.1, 0.5]]])  # cosine scale
    sparse = torch.tensor([[[10.0, 30.0, 20.0]]])  # dot-product scale
    out = ensemble_teacher(torch.cat([dense, sparse]), torch.tensor([1.0, 1.0]))
    # dense -> (1, 0, 0.5), sparse -> (0, 1, 0.5); mean (0.5, 0.5, 0.5)
    assert out[0].tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_kl_distillation_zero_when_student_matches_teacher():
    teacher = torch.tensor([[1.0, 0.0, 0.5]])
    student = teacher / 0.1 + 3.0  # same softmax: a constant shift does not matter
    assert kl_distillation_loss(student, teacher, temperature=0.1).item() == pytest.approx(0.0, abs=1e-6)
    assert kl_distillation_loss(-student, teacher, temperature=0.1).item() > 1.0


def test_quadratic_warmup():
    assert quadratic_warmup(0, 100, 1e-3) == 0.0
    assert quadratic_warmup(50, 100, 1e-3) == pytest.approx(2.5e-4)
    assert quadratic_warmup(500, 100, 1e-3) == 1e-3
    assert quadratic_warmup(3, 0, 1e-3) == 1e-3
