"""Penalty pieces against closed forms."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from softmax_sk._penalty import ElasticNet


def _penalty(l2=0.3, l1=0.2, size=8):
    mask = np.ones(size, dtype=bool)
    mask[-2:] = False  # an intercept row of two classes
    return ElasticNet(l2, l1, mask)


def test_from_C_matches_scikit_learn_scaling():
    weights = np.full(50, 1.0)
    p = ElasticNet.from_C(C=2.0, l1_ratio=0.25, sample_weight=weights, penalized=np.ones(3, bool))
    assert p.l2 == pytest.approx(0.75 / 100, rel=1e-15)
    assert p.l1 == pytest.approx(0.25 / 100, rel=1e-15)
    none = ElasticNet.from_C(np.inf, 0.5, weights, np.ones(3, bool))
    assert none.l1 == 0 and none.l2 == 0 and not none.has_l1


def test_values_and_smooth_gradient_skip_the_intercept():
    p = _penalty()
    w = np.arange(8.0) - 3
    assert p.smooth_value(w) == 0.5 * 0.3 * np.sum(w[:6] ** 2)
    assert p.l1_value(w) == 0.2 * np.sum(np.abs(w[:6]))
    np.testing.assert_array_equal(p.smooth_gradient(w), np.r_[0.3 * w[:6], 0, 0])


def test_prox_is_the_argmin_of_the_proximal_problem():
    p = _penalty()
    w = np.array([1.0, -0.05, 0.3, -2.0, 0.0, 0.01, 5.0, -5.0])
    step = 0.7
    out = p.prox(w, step)
    for j in range(w.size):
        lam = step * p.l1 if p.penalized[j] else 0.0
        res = minimize_scalar(
            lambda u, j=j, lam=lam: 0.5 * (u - w[j]) ** 2 + lam * abs(u),
            bounds=(-10, 10),
            method="bounded",
            options={"xatol": 1e-12},
        )
        assert abs(out[j] - res.x) < 1e-7
    assert out[1] == 0.0 and out[5] == 0.0  # exact zeros


def test_min_norm_subgradient_is_zero_exactly_at_a_1d_minimum():
    # f(u) = 0.5 (u - a)^2 + l1 |u|: minimiser soft(a, l1).
    p = ElasticNet(0.0, 0.5, np.ones(1, bool))
    for a in [-2.0, -0.3, 0.0, 0.4, 3.0]:
        u = p.prox(np.array([a]), 1.0)
        g = u - a
        assert abs(p.min_norm_subgradient(u, g)[0]) < 1e-15
        off = u + 0.1
        assert abs(p.min_norm_subgradient(off, off - a)[0]) > 0
