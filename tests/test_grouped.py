"""The grouped lasso across classes (``l1_type="grouped"``) and its path.

Checked against the definition of the objective (``conftest.reference_objective``):
the optimality (KKT) conditions at the fit, scipy's SLSQP on the epigraph
formulation, and the closed form of the ``C`` where the first feature enters.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import reference_objective
from scipy.optimize import minimize
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from softmax_sk import SoftmaxRegressionClassifier, grouped_lasso_path


def _problem(n_classes=3, n_samples=150, n_features=8, seed=0):
    """Three informative features among noise, standardised."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.1,
        shuffle=False,
        random_state=seed,
    )
    return StandardScaler().fit_transform(X), y


def _assert_kkt(clf, X, y, s, C, l1_ratio, tol):
    """Zero groups: ||G_j|| <= l1_ratio; non-zero groups: G_j + l1_ratio W_j / ||W_j|| = 0;
    intercept gradient 0 (``G``: the smooth part's gradient, scikit-learn's scale;
    ``tol`` is relative to ``C * sum(s)``, the scale of the stopping rule)."""
    W, b = clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64)
    _, G, gb = reference_objective(W, b, X, y, s, C, l1_ratio, grouped=True)
    scale = C * s.sum()
    norms = np.linalg.norm(W, axis=0)
    zero = norms == 0
    assert zero.any() and not zero.all()  # both kinds of group are checked
    assert np.all(np.linalg.norm(G[:, zero], axis=0) <= l1_ratio + tol * scale)
    stationary = G[:, ~zero] + l1_ratio * W[:, ~zero] / norms[~zero]
    assert np.abs(stationary).max() <= tol * scale
    assert np.abs(gb).max() <= tol * scale


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
@pytest.mark.parametrize("solver", ["proxnewton", "proxqn"])
def test_grouped_lasso_satisfies_the_kkt_conditions(sparse, weighted, l1_ratio, solver):
    X, y = _problem()
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.2, 3.0, len(y)) if weighted else np.ones(len(y))
    cw = {0: 2.0, 2: 0.5} if weighted else None
    s = sw * (np.array([cw.get(c, 1.0) for c in y]) if cw else 1.0)
    C = 0.02
    clf = SoftmaxRegressionClassifier(
        C=C, l1_type="grouped", l1_ratio=l1_ratio, class_weight=cw, tol=1e-9, max_iter=5000
    )
    clf.set_params(solver=solver).fit(sp.csr_matrix(X) if sparse else X, y, sample_weight=sw)
    assert clf.solver_ == solver
    assert SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=0.5).fit(X, y).solver_ == (
        "proxnewton"  # what auto picks for these 27 coefficients
    )
    _assert_kkt(clf, X, y, s, C, l1_ratio, 1e-8)
    # whole columns of coef_ are zero: a feature is dropped for every class at once
    assert set(np.flatnonzero((clf.coef_ == 0).any(axis=0))) == set(
        np.flatnonzero((clf.coef_ == 0).all(axis=0))
    )


def test_grouped_lasso_in_float32():
    X, y = _problem()
    C, r = 0.02, 1.0
    clf = SoftmaxRegressionClassifier(C=C, l1_type="grouped", l1_ratio=r, tol=1e-5)
    clf.fit(X.astype(np.float32), y)
    assert clf.coef_.dtype == np.float32
    _assert_kkt(clf, X, y, np.ones(len(y)), C, r, 1e-4)
    ref = SoftmaxRegressionClassifier(C=C, l1_type="grouped", l1_ratio=r, tol=1e-9).fit(X, y)
    np.testing.assert_array_equal(clf.coef_ == 0, ref.coef_ == 0)


def _slsqp_grouped(X, y, C, l1_ratio):
    """The grouped lasso as a smooth constrained problem: minimise
    ``f(W, b) + r sum_j t_j`` subject to ``t_j^2 >= ||W_j||^2``, ``t_j >= 0``."""
    K, d = np.unique(y).size, X.shape[1]
    k = 1 if K == 2 else K
    size = k * d
    s = np.ones(len(y))

    def unpack(theta):
        return theta[:size].reshape(k, d), theta[size : size + k], theta[size + k :]

    def fun(theta):
        W, b, t = unpack(theta)
        f, gW, gb = reference_objective(W, b, X, y, s, C, 0.0)
        f -= np.sum(W**2) * l1_ratio / 2  # the L2 term is (1 - r) / 2 ||W||^2
        gW = gW - l1_ratio * W
        return f + l1_ratio * t.sum(), np.concatenate([gW.ravel(), gb, np.full(d, l1_ratio)])

    def cons(theta):
        W, _, t = unpack(theta)
        if k == 1:  # |w_j| <= t_j as two linear constraints (t^2 >= w^2 degenerates at 0)
            return np.concatenate([t - W[0], t + W[0]])
        return t**2 - np.sum(W**2, axis=0)

    def cons_jac(theta):
        W, _, t = unpack(theta)
        if k == 1:
            eye = np.eye(d)
            return np.block([[-eye, np.zeros((d, 1)), eye], [eye, np.zeros((d, 1)), eye]])
        J = np.zeros((d, theta.size))
        for j in range(d):
            J[j, np.arange(k) * d + j] = -2 * W[:, j]
        J[:, size + k :] = np.diag(2 * t)
        return J

    x0 = np.concatenate([np.full(size, 0.01), np.zeros(k), np.full(d, 0.1)])
    res = minimize(
        fun,
        x0,
        jac=True,
        method="SLSQP",
        bounds=[(None, None)] * (size + k) + [(0, None)] * d,
        constraints=[{"type": "ineq", "fun": cons, "jac": cons_jac}],
        options={"ftol": 1e-14, "maxiter": 2000},
    )
    assert res.success, res.message
    W, b, _ = unpack(res.x)
    return W, b


def test_proxqn_keeps_its_step_where_the_bound_is_rounding():
    """PANOC halved its step whenever the smooth part's quadratic bound failed, which
    rounding alone does once steps are tiny; the step then fell to 1e-17 and stalled:
    at tol=1e-10 two dropped columns stayed 4.7e-12 and 3.5e-12 (proxnewton: exact 0),
    and in float32 with weights of 1e-8..1e8 the objective ended 1.69 (relative) above
    scikit-learn's optimum while claiming 7.8e-4."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 8))
    W = np.zeros((3, 8))
    W[:, :3] = rng.normal(size=(3, 3)) * 2
    y = np.argmax(X @ W.T + rng.gumbel(size=(100, 3)), axis=1)
    kw = {"C": 0.3, "l1_type": "grouped", "l1_ratio": 1.0, "tol": 1e-10, "max_iter": 10000}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=1e-10 is below rounding: flat, not converged
        qn = SoftmaxRegressionClassifier(solver="proxqn", **kw).fit(X, y)
    newton = SoftmaxRegressionClassifier(solver="proxnewton", **kw).fit(X, y)
    dropped = np.linalg.norm(newton.coef_, axis=0) == 0
    assert dropped.sum() == 2
    np.testing.assert_array_equal(np.linalg.norm(qn.coef_, axis=0) == 0, dropped)

    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 10))
    W = np.zeros((3, 10))
    W[:, :3] = rng.normal(size=(3, 3)) * 2
    y = np.argmax(X @ W.T + rng.gumbel(size=(200, 3)), axis=1)
    weights = 10.0 ** rng.uniform(-8, 8, 200)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(X, y, sample_weight=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float32 ends flat to rounding, with a warning
        fit = SoftmaxRegressionClassifier(solver="proxqn", tol=1e-6, max_iter=10000).fit(
            X.astype(np.float32), y, sample_weight=weights.astype(np.float32)
        )
    f, _, _ = reference_objective(
        fit.coef_.astype(np.float64), fit.intercept_, X, y, weights, 1.0, 0.0
    )
    f_ref, _, _ = reference_objective(ref.coef_, ref.intercept_, X, y, weights, 1.0, 0.0)
    assert (f - f_ref) / f_ref < 1e-3


@pytest.mark.parametrize("n_classes", [2, 3])
def test_grouped_lasso_agrees_with_scipy_slsqp(n_classes):
    X, y = _problem(n_classes, n_samples=80, n_features=6, seed=n_classes)
    C, r = 0.05, 0.8
    clf = SoftmaxRegressionClassifier(C=C, l1_type="grouped", l1_ratio=r, tol=1e-10)
    clf.fit(X, y)
    W, b = _slsqp_grouped(X, y, C, r)
    s = np.ones(len(y))
    f_ours = reference_objective(clf.coef_, clf.intercept_, X, y, s, C, r, grouped=True)[0]
    f_ref = reference_objective(W, b, X, y, s, C, r, grouped=True)[0]
    assert f_ours <= f_ref * (1 + 1e-9)
    assert f_ours == pytest.approx(f_ref, rel=1e-7)
    np.testing.assert_allclose(clf.coef_, W, atol=1e-4)
    dropped = np.linalg.norm(clf.coef_, axis=0) == 0
    assert dropped.any()
    assert np.linalg.norm(W[:, dropped], axis=0).max() < 1e-5


def test_two_classes_grouped_is_the_elementwise_lasso():
    X, y = _problem(2)
    grouped = SoftmaxRegressionClassifier(C=0.05, l1_type="grouped", l1_ratio=1.0, tol=1e-10)
    elementwise = SoftmaxRegressionClassifier(C=0.05, l1_ratio=1.0, tol=1e-10)
    np.testing.assert_allclose(grouped.fit(X, y).coef_, elementwise.fit(X, y).coef_, atol=1e-7)
    np.testing.assert_array_equal(grouped.coef_ == 0, elementwise.coef_ == 0)


def _gradient_norms_at_zero(X, y, s, fit_intercept):
    """``||G_j||``: finite differences of the data term at ``W = 0``, the intercept
    minimised by scipy (independent of the closed form the code uses)."""
    K, d = np.unique(y).size, X.shape[1]
    k = 1 if K == 2 else K
    b = np.zeros(k)
    if fit_intercept:
        b = minimize(
            lambda b: reference_objective(np.zeros((k, d)), b, X, y, s, 1.0, 0.0)[0],
            np.zeros(k),
            method="BFGS",
            options={"gtol": 1e-12},
        ).x
    h, G = 1e-6, np.zeros((k, d))
    for c in range(k):
        for j in range(d):
            E = np.zeros((k, d))
            E[c, j] = h
            plus = reference_objective(E, b, X, y, s, 1.0, 0.0)[0]
            minus = reference_objective(-E, b, X, y, s, 1.0, 0.0)[0]
            G[c, j] = (plus - minus) / (2 * h)
    return np.linalg.norm(G, axis=0)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_path_starts_where_the_largest_gradient_group_enters(fit_intercept, n_classes):
    X, y = _problem(n_classes)
    X = X + 0.3  # off-centre, so that the intercept matters
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    r = 0.7
    norms = _gradient_norms_at_zero(X, y, sw, fit_intercept)
    params = {"fit_intercept": fit_intercept, "tol": 1e-10, "max_iter": 2000}
    Cs, coefs, intercepts = grouped_lasso_path(
        X, y, Cs=5, C_ratio=10, l1_ratio=r, sample_weight=sw, **params
    )
    assert Cs[0] == pytest.approx(r / norms.max(), rel=1e-6)
    assert np.abs(coefs[0]).max() < 1e-9  # C_min itself is on the boundary: 0 to rounding
    assert (np.linalg.norm(coefs[-1], axis=0) > 0).sum() > 1
    # just above C_min the feature with the largest gradient norm is the only one in
    first = SoftmaxRegressionClassifier(C=Cs[0] * 1.02, l1_type="grouped", l1_ratio=r, **params)
    entered = np.flatnonzero(np.linalg.norm(first.fit(X, y, sw).coef_, axis=0))
    np.testing.assert_array_equal(entered, [np.argmax(norms)])
    below = SoftmaxRegressionClassifier(C=Cs[0] * 0.98, l1_type="grouped", l1_ratio=r, **params)
    assert np.all(below.fit(X, y, sw).coef_ == 0)


def test_the_path_takes_explicit_Cs_and_refuses_no_l1():
    X, y = _problem()
    Cs, coefs, intercepts = grouped_lasso_path(X, y, Cs=[1.0, 0.01])
    np.testing.assert_array_equal(Cs, [0.01, 1.0])
    assert coefs.shape == (2, 3, X.shape[1]) and intercepts.shape == (2, 3)
    with pytest.raises(ValueError, match=r"l1_ratio must be in \(0, 1\]"):
        grouped_lasso_path(X, y, l1_ratio=0.0)
    with pytest.raises(ValueError, match="label_smoothing is not supported"):
        grouped_lasso_path(X, y, label_smoothing=0.1)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "owlqn", "lbfgsb"])
def test_solvers_without_a_group_prox_are_refused(solver):
    X, y = _problem()
    clf = SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=0.5, solver=solver)
    with pytest.raises(ValueError, match=r"does not handle the grouped lasso.*'proxqn'"):
        clf.fit(X, y)
    # without an L1 term the grouped penalty is the L2 one, which every solver handles
    clf.set_params(l1_ratio=0.0).fit(X, y)
    assert clf.solver_ == solver
