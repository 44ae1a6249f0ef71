"""Coefficient bounds (``coef_bounds``, ``intercept_bounds``) against scipy's L-BFGS-B.

The reference objective is scikit-learn's, written from its definition in
``conftest.reference_objective`` (scipy's ``logsumexp``), not from softmax-sk's
code, and minimised by ``scipy.optimize.minimize(method="L-BFGS-B")`` under the
same bounds.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import reference_objective
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from softmax_sk import SoftmaxRegressionClassifier

N_FEATURES = 5
_TIGHT = {"maxiter": 50000, "maxfun": 100000, "ftol": 1e-16, "gtol": 1e-12, "maxcor": 30}


def _problem(n_classes, seed=0):
    """A small noisy problem: 90 samples, 5 features."""
    return make_classification(
        n_samples=90,
        n_features=N_FEATURES,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.1,
        random_state=seed,
    )


def _scipy_fit(X, y, s, C, l1_ratio, k, lower, upper, lower_b, upper_b):
    """L-BFGS-B on ``W = P - N`` (``P, N >= 0``: the L1 term is then linear), ``b``.

    Needs every coefficient box to contain 0 when ``l1_ratio > 0``."""
    d = X.shape[1]
    size = k * d

    def fun(theta):
        P, Nn = theta[:size].reshape(k, d), theta[size : 2 * size].reshape(k, d)
        W, b = P - Nn, theta[2 * size :]
        f, gW, gb = reference_objective(W, b, X, y, s, C, l1_ratio)
        f += l1_ratio * (P.sum() + Nn.sum() - np.abs(W).sum())  # r ||W||_1 as r sum(P + N)
        return f, np.concatenate([(gW + l1_ratio).ravel(), (-gW + l1_ratio).ravel(), gb])

    bounds = (
        list(zip(np.maximum(lower, 0).ravel(), np.maximum(upper, 0).ravel(), strict=True))
        + list(zip(np.maximum(-upper, 0).ravel(), np.maximum(-lower, 0).ravel(), strict=True))
        + list(zip(lower_b, upper_b, strict=True))
    )
    if l1_ratio == 0:  # no split needed: P carries W, N is pinned at 0
        bounds[:size] = list(zip(lower.ravel(), upper.ravel(), strict=True))
        bounds[size : 2 * size] = [(0.0, 0.0)] * size
    res = minimize(
        fun,
        np.zeros(2 * size + k),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options=_TIGHT,
    )
    theta = res.x
    W = theta[:size].reshape(k, d) - theta[size : 2 * size].reshape(k, d)
    return W, theta[2 * size :], res


def _active(values, lower, upper, atol):
    return (np.abs(values - lower) <= atol) | (np.abs(values - upper) <= atol)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_bounded_fit_matches_scipy_lbfgsb(n_classes, sparse, weighted, l1_ratio):
    X, y = _problem(n_classes, seed=n_classes)
    rng = np.random.default_rng(n_classes + 10 * weighted)
    k = 1 if n_classes == 2 else n_classes
    lower = rng.uniform(-0.6, 0.0, size=(k, N_FEATURES))
    upper = rng.uniform(0.0, 0.6, size=(k, N_FEATURES))
    lower[:, 0] = 0.0  # a sign constraint on feature 0
    upper[-1, 1] = np.inf
    lower_b, upper_b = np.full(k, -0.3), np.full(k, 0.4)
    sw, cw = np.ones(len(y)), None
    if weighted:
        sw = rng.uniform(0.2, 3.0, size=len(y))
        cw = {0: 2.0, 1: 0.5}
    s = sw * (np.array([cw.get(c, 1.0) for c in y]) if cw else 1.0)
    C = 0.5
    clf = SoftmaxRegressionClassifier(
        C=C,
        l1_ratio=l1_ratio,
        class_weight=cw,
        coef_bounds=(lower, upper),
        intercept_bounds=(lower_b, upper_b),
        tol=1e-11,
        max_iter=5000,
    )
    Xfit = sp.csr_matrix(X) if sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it stops on its stopping rule
        clf.fit(Xfit, y, sample_weight=sw)
    assert clf.solver_ == "lbfgsb"
    W_ref, b_ref, res = _scipy_fit(X, y, s, C, l1_ratio, k, lower, upper, lower_b, upper_b)
    f_ours = reference_objective(clf.coef_, clf.intercept_, X, y, s, C, l1_ratio)[0]
    f_ref = reference_objective(W_ref, b_ref, X, y, s, C, l1_ratio)[0]
    assert f_ours == pytest.approx(f_ref, rel=1e-8)
    # the bounds hold, and the same ones are active, ours exactly on the bound
    assert np.all((lower <= clf.coef_) & (clf.coef_ <= upper))
    assert np.all((lower_b <= clf.intercept_) & (clf.intercept_ <= upper_b))
    ours = _active(clf.coef_, lower, upper, 0.0)
    theirs = _active(W_ref, lower, upper, 1e-6)
    assert ours.any() and not ours.all()
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        _active(clf.intercept_, lower_b, upper_b, 0.0), _active(b_ref, lower_b, upper_b, 1e-6)
    )
    np.testing.assert_allclose(clf.coef_, W_ref, atol=2e-5)


def test_sign_constraints_hold_exactly_in_float64_and_float32():
    X, y = _problem(3)
    free = SoftmaxRegressionClassifier(tol=1e-8).fit(X, y)
    assert (free.coef_ < 0).sum() >= 3  # the constraint has work to do
    fits = {}
    for dtype in (np.float64, np.float32):
        clf = SoftmaxRegressionClassifier(coef_bounds=(0, np.inf), tol=1e-6, max_iter=2000)
        clf.fit(X.astype(dtype), y)
        assert clf.coef_.dtype == dtype
        assert np.all(clf.coef_ >= 0)
        assert (clf.coef_ == 0).sum() >= 3  # exact zeros where the bound is active
        fits[dtype] = clf
    np.testing.assert_allclose(fits[np.float32].coef_, fits[np.float64].coef_, atol=2e-3)
    # the same coefficients are held at 0 in both precisions
    np.testing.assert_array_equal(fits[np.float32].coef_ == 0, fits[np.float64].coef_ == 0)


def test_float32_bounds_are_rounded_inward_and_hit_exactly():
    X, y = _problem(3)
    lower, upper = -0.1, 0.3  # neither is a float32 value
    clf = SoftmaxRegressionClassifier(coef_bounds=(lower, upper), tol=1e-6, max_iter=2000)
    clf.fit(X.astype(np.float32), y)
    coef = clf.coef_.astype(np.float64)
    assert np.all((lower <= coef) & (coef <= upper))  # inside the user's box
    lo32 = np.nextafter(np.float32(lower), np.float32(0))  # float32 rounds -0.1 outward
    hi32 = np.nextafter(np.float32(upper), np.float32(0))
    assert lo32 >= lower and hi32 <= upper
    assert (clf.coef_ == lo32).any() and (clf.coef_ == hi32).any()


def test_two_classes_bound_the_log_odds_coefficient():
    """Two classes: coef_ is classes_[1] against classes_[0], as in binary logistic
    regression; a bound of shape (2, d) (one row per class) is refused with that advice."""
    X, y = _problem(2)
    clf = SoftmaxRegressionClassifier(coef_bounds=(-0.2, 0.2), tol=1e-10, max_iter=2000).fit(X, y)
    assert clf.coef_.shape == (1, N_FEATURES)
    W_ref, b_ref, _ = _scipy_fit(
        X,
        y,
        np.ones(len(y)),
        1.0,
        0.0,
        1,
        np.full((1, N_FEATURES), -0.2),
        np.full((1, N_FEATURES), 0.2),
        [-np.inf],
        [np.inf],
    )
    np.testing.assert_allclose(clf.coef_, W_ref, atol=1e-6)
    np.testing.assert_allclose(clf.intercept_, b_ref, atol=1e-6)
    with pytest.raises(ValueError, match=r"classes_\[1\] against classes_\[0\]"):
        SoftmaxRegressionClassifier(coef_bounds=(np.zeros((2, N_FEATURES)), 1.0)).fit(X, y)


def test_pinning_a_class_to_zero_gives_the_reference_class_parameterisation():
    """K = 3 with class 0's coefficients and intercept bounded to [0, 0]: the fit is
    the reference-class model (classes 1 and 2 against 0), penalised, minimised
    independently by scipy over the two free classes."""
    X, y = _problem(3)
    d, C = N_FEATURES, 0.7
    lower = np.vstack([np.zeros(d), np.full((2, d), -np.inf)])
    upper = np.vstack([np.zeros(d), np.full((2, d), np.inf)])
    lower_b, upper_b = np.array([0.0, -np.inf, -np.inf]), np.array([0.0, np.inf, np.inf])
    clf = SoftmaxRegressionClassifier(
        C=C, coef_bounds=(lower, upper), intercept_bounds=(lower_b, upper_b), tol=1e-10
    ).fit(X, y)
    assert np.all(clf.coef_[0] == 0) and clf.intercept_[0] == 0

    def fun(theta):  # logits [0, z1, z2]: the reference parameterisation with class 0
        W, b = theta[: 2 * d].reshape(2, d), theta[2 * d :]
        Z = np.column_stack([np.zeros(len(X)), X @ W.T + b])
        P = softmax(Z, axis=1)
        f = C * np.sum(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y]) + 0.5 * np.sum(W**2)
        R = (P - np.eye(3)[y])[:, 1:]
        return f, np.concatenate([(C * R.T @ X + W).ravel(), C * R.sum(axis=0)])

    ref = minimize(fun, np.zeros(2 * d + 2), jac=True, method="L-BFGS-B", options=_TIGHT)
    np.testing.assert_allclose(clf.coef_[1:], ref.x[: 2 * d].reshape(2, d), atol=1e-6)
    np.testing.assert_allclose(clf.intercept_[1:], ref.x[2 * d :], atol=1e-6)
    # it differs from the (penalised) symmetric fit: a bound is on the parameter as stored
    symmetric = SoftmaxRegressionClassifier(C=C, tol=1e-10).fit(X, y)
    assert np.abs(symmetric.coef_[0]).max() > 0.05


def test_warm_start_is_projected_into_the_box_and_reaches_the_cold_optimum():
    X, y = _problem(3)
    warm = SoftmaxRegressionClassifier(warm_start=True, tol=1e-10).fit(X, y)
    assert (warm.coef_ < 0).any()
    warm.set_params(coef_bounds=(0, np.inf)).fit(X, y)
    cold = SoftmaxRegressionClassifier(coef_bounds=(0, np.inf), tol=1e-10).fit(X, y)
    assert np.all(warm.coef_ >= 0)
    np.testing.assert_allclose(warm.coef_, cold.coef_, atol=1e-7)


def test_a_fixed_coefficient_stays_at_its_value():
    X, y = _problem(3)
    lower = np.full((3, N_FEATURES), -np.inf)
    upper = np.full((3, N_FEATURES), np.inf)
    lower[1, 2] = upper[1, 2] = 0.25
    clf = SoftmaxRegressionClassifier(coef_bounds=(lower, upper), tol=1e-8).fit(X, y)
    assert clf.coef_[1, 2] == 0.25


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"coef_bounds": (1.0, 0.0)}, "lower bound must be <= its upper bound"),
        ({"coef_bounds": (np.nan, 1.0)}, "contains NaN"),
        ({"coef_bounds": (np.inf, np.inf)}, "no finite value satisfies"),
        ({"coef_bounds": (0.0,)}, "a pair"),
        ({"coef_bounds": ("a", 1.0)}, "must be numeric"),
        ({"coef_bounds": (np.zeros(4), 1.0)}, "does not broadcast"),
        ({"intercept_bounds": (0, 1), "fit_intercept": False}, "no intercept"),
        ({"coef_bounds": (0, 1), "solver": "lbfgs"}, "does not handle coef_bounds"),
        ({"coef_bounds": (0, 1), "solver": "proxqn"}, "does not handle coef_bounds"),
        (
            {"coef_bounds": (0, 1), "l1_type": "grouped", "l1_ratio": 0.5},
            "cannot be combined with the grouped lasso",
        ),
    ],
)
def test_bad_bounds_are_refused_and_a_fitted_model_is_left_intact(params, message):
    X, y = _problem(3)
    clf = SoftmaxRegressionClassifier().fit(X, y)
    coef = clf.coef_.copy()
    lower = np.zeros((3, N_FEATURES))
    clf.set_params(**params)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.coef_, coef)
    np.testing.assert_array_equal(lower, 0)


def test_inference_refuses_a_bounded_fit():
    X, y = _problem(2)
    clf = SoftmaxRegressionClassifier(C=np.inf, coef_bounds=(-0.1, 0.1)).fit(X, y)
    with pytest.raises(ValueError, match="unconstrained fit"):
        clf.inference(X, y)


def test_infinite_bounds_are_no_bounds():
    X, y = _problem(3)
    clf = SoftmaxRegressionClassifier(coef_bounds=(-np.inf, np.inf)).fit(X, y)
    assert clf.solver_ == "newton-cg"  # what auto picks without bounds


def test_bounds_compose_with_probability_targets_and_offsets():
    """Probability targets and offsets change the data term only: the bounded fit is the
    L-BFGS-B minimiser of ``C sum_i (lse(z_i) - t_i . z_i) + ||W||^2 / 2`` with
    ``z = X W^T + b + offset``."""
    X, y = _problem(3)
    rng = np.random.default_rng(5)
    T = rng.dirichlet(np.ones(3), size=len(y))
    offset = rng.normal(scale=0.5, size=(len(y), 3))
    d, C = N_FEATURES, 0.5
    lower, upper = -0.2, 0.3
    clf = SoftmaxRegressionClassifier(C=C, coef_bounds=(lower, upper), tol=1e-10)
    clf.fit(X, y_proba=T, offset=offset)

    def fun(theta):
        W, b = theta[: 3 * d].reshape(3, d), theta[3 * d :]
        Z = X @ W.T + b + offset
        R = softmax(Z, axis=1) - T
        f = C * np.sum(logsumexp(Z, axis=1) - np.sum(T * Z, axis=1)) + 0.5 * np.sum(W**2)
        return f, np.concatenate([(C * R.T @ X + W).ravel(), C * R.sum(axis=0)])

    box = [(lower, upper)] * (3 * d) + [(None, None)] * 3
    ref = minimize(
        fun, np.zeros(3 * d + 3), jac=True, method="L-BFGS-B", bounds=box, options=_TIGHT
    )
    theta = np.concatenate([clf.coef_.ravel(), clf.intercept_])
    assert fun(theta)[0] == pytest.approx(ref.fun, rel=1e-8)
    W_ref = ref.x[: 3 * d].reshape(3, d)
    np.testing.assert_array_equal(
        _active(clf.coef_, lower, upper, 0.0), _active(W_ref, lower, upper, 1e-6)
    )


def test_sgd_refuses_bounds_and_the_grouped_lasso():
    """The stochastic solver takes elementwise penalties without bounds: it says so
    rather than fit an unconstrained model."""
    X, y = make_classification(60, 4, n_informative=3, n_redundant=0, random_state=0)
    for params in ({"coef_bounds": (0, np.inf)}, {"l1_type": "grouped", "l1_ratio": 1.0}):
        with pytest.raises(ValueError, match="solver='sgd' does not handle"):
            SoftmaxRegressionClassifier(solver="sgd", **params).fit(X, y)
