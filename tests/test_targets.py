"""Fitting to probability targets, with label smoothing and with offsets, against references.

Probability targets of fractions ``m / M`` against ``M`` replicated labelled
rows (the objective, written out here, to 1e-8); offsets against statsmodels
(two classes) and a direct ``scipy.optimize`` minimisation (K classes); label
smoothing against the equivalent ``y_proba``; errors, routing through a
Pipeline and a search, persistence, and the refusals of ``inference()``.
"""

import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from softmax_sk import SoftmaxRegressionClassifier

TIGHT = dict(tol=1e-10, max_iter=2000)


def _data(n=80, d=4, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, n_classes))
    logits = X @ W + rng.normal(scale=1.5, size=(n, n_classes))
    y = logits.argmax(axis=1)
    if n_classes == 2:
        y = (logits[:, 1] - logits[:, 0] + rng.logistic(size=n) > 0).astype(int)
    return X, y, rng


def _log_p(clf, X, offset=None):
    """Log probabilities from ``coef_`` and ``intercept_`` (reference column for two classes)."""
    z = X @ np.atleast_2d(clf.coef_).T + clf.intercept_
    if clf.classes_.size == 2:
        z = np.column_stack([np.zeros(len(X)), z])
    if offset is not None:
        z = z + (np.column_stack([np.zeros(len(X)), offset]) if offset.ndim == 1 else offset)
    return log_softmax(z, axis=1)


def _objective(clf, X, T, sw, cw, offset=None):
    """scikit-learn's objective with targets T: ``C sum_i s_i sum_k cw_k t_ik (-log p_ik)``
    plus the elastic-net penalty on ``coef_``."""
    ce = -(T * cw * _log_p(clf, X, offset)).sum(axis=1)
    W = np.asarray(clf.coef_, dtype=np.float64)
    r = clf.l1_ratio
    penalty = (1 - r) / 2 * np.sum(W**2) + r * np.abs(W).sum()
    return clf.C * np.sum(sw * ce) + penalty


def _replicated(X, counts, sw):
    """Each row i repeated M times, ``counts[i, k]`` of them labelled k, each of weight sw_i / M."""
    M = counts[0].sum()
    rows = np.repeat(np.arange(len(X)), M)
    labels = np.concatenate([np.repeat(np.arange(counts.shape[1]), c) for c in counts])
    return X[rows], labels, sw[rows] / M


@pytest.mark.parametrize(
    "n_classes, solver, l1_ratio, class_weight",
    [
        (3, "lbfgs", 0.0, None),
        (3, "newton-cg", 0.0, {0: 0.5, 2: 3.0}),
        (3, "owlqn", 0.5, "balanced"),
        (2, "auto", 0.0, "balanced"),
        (2, "newton-cg", 0.3, {1: 2.0}),
        (4, "auto", 1.0, None),
    ],
)
def test_fractions_equal_replicated_labels(n_classes, solver, l1_ratio, class_weight):
    """y_proba = m / M fits what M rows of the matching labels, weighted 1 / M each, fit."""
    X, _, rng = _data(n=60, n_classes=n_classes)
    M = 5
    counts = rng.multinomial(M, rng.dirichlet(np.ones(n_classes)), size=len(X))
    sw = rng.uniform(0.2, 2.0, size=len(X))
    params = dict(C=0.7, l1_ratio=l1_ratio, solver=solver, class_weight=class_weight, **TIGHT)
    soft = SoftmaxRegressionClassifier(**params).fit(X, y_proba=counts / M, sample_weight=sw)
    Xr, yr, swr = _replicated(X, counts, sw)
    rep = SoftmaxRegressionClassifier(**params).fit(Xr, yr, sample_weight=swr)
    np.testing.assert_array_equal(soft.classes_, rep.classes_)
    totals = (counts / M).T @ sw
    if class_weight == "balanced":
        cw = totals.sum() / (n_classes * totals)
    else:
        cw = np.array([(class_weight or {}).get(k, 1.0) for k in range(n_classes)])
    f_soft = _objective(soft, X, counts / M, sw, cw)
    f_rep = _objective(rep, Xr, np.eye(n_classes)[yr], swr, cw)
    assert f_soft == pytest.approx(f_rep, rel=1e-8)
    # and the same function: the soft fit's coefficients on the replicated data
    assert _objective(soft, Xr, np.eye(n_classes)[yr], swr, cw) == pytest.approx(f_soft, rel=1e-12)
    np.testing.assert_allclose(soft.coef_, rep.coef_, atol=1e-5)


def test_one_hot_y_proba_fits_as_labels_and_dataframe_columns_are_classes():
    X, y, _ = _data()
    labels = SoftmaxRegressionClassifier(**TIGHT).fit(X, y)
    names = np.array(["cat", "ant", "bee"])
    frame = pd.DataFrame(np.eye(3)[y], columns=names)  # classes_ sorted, columns matched
    soft = SoftmaxRegressionClassifier(**TIGHT).fit(X, y_proba=frame)
    assert soft.classes_.tolist() == ["ant", "bee", "cat"]
    np.testing.assert_allclose(soft.coef_, labels.coef_[[1, 2, 0]], atol=1e-9)
    assert (soft.predict(X) == names[labels.predict(X)]).all()
    by_name = SoftmaxRegressionClassifier(**TIGHT).fit(X, names[y])  # the same fit by labels
    np.testing.assert_allclose(soft.predict_proba(X), by_name.predict_proba(X), atol=1e-9)
    with pytest.raises(TypeError, match="sortable"):
        SoftmaxRegressionClassifier().fit(
            X, y_proba=pd.DataFrame(np.eye(3)[y], columns=["a", 1, 2])
        )
    with pytest.raises(ValueError, match="distinct"):
        SoftmaxRegressionClassifier().fit(X, y_proba=pd.DataFrame(np.eye(3)[y], columns=[0, 1, 1]))
    plain = SoftmaxRegressionClassifier(**TIGHT).fit(X, y_proba=frame.to_numpy())
    np.testing.assert_array_equal(plain.classes_, np.arange(3))


def test_y_proba_float32_keeps_float32_and_inputs_are_not_mutated():
    X, y, rng = _data()
    P = rng.dirichlet(np.ones(3), size=len(X)).astype(np.float32)
    P_before = P.copy()
    clf = SoftmaxRegressionClassifier().fit(X.astype(np.float32), y_proba=P)
    assert clf.coef_.dtype == np.float32
    np.testing.assert_array_equal(P, P_before)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(y="labels", y_proba="P"), ValueError, "exactly one of y"),
        (dict(y_proba="bad_sum"), ValueError, r"must sum to 1 \(within 1e-06\)"),
        (dict(y_proba="negative"), ValueError, "negative"),
        (dict(y_proba="nan"), ValueError, "NaN"),
        (dict(y_proba="one_column"), ValueError, "K >= 2"),
        (dict(y_proba="one_class"), ValueError, r"one class \(column 1\).*at least 2 classes"),
        (dict(y_proba="short"), ValueError, r"\(n_samples, n_classes\)"),
        (dict(y_proba="text"), TypeError, "numeric"),
        (dict(y=None), ValueError, "requires y to be passed"),
        (dict(y="onehot"), ValueError, "multilabel"),  # a 2-D y is still not y_proba
        (dict(y="labels", offset="1d_three"), ValueError, "two classes only"),
        (dict(y="labels", offset="wrong_shape"), ValueError, r"pass shape \(80, 3\)"),
        (dict(y="labels", offset="inf"), ValueError, "finite"),
        (dict(y="labels", label_smoothing=1.0), ValueError, "label_smoothing"),
    ],
)
def test_bad_targets_and_offsets_raise_and_leave_the_model_as_it_was(kwargs, error, match):
    X, y, rng = _data()
    P = rng.dirichlet(np.ones(3), size=len(X))
    values = {
        "labels": y,
        "P": P,
        "bad_sum": P * 1.01,
        "one_column": np.ones((len(X), 1)),
        "one_class": np.tile([0.0, 1.0, 0.0], (len(X), 1)),
        "short": P[:-1],
        "text": np.full((len(X), 3), "a"),
        "onehot": np.eye(3)[y],
        "1d_three": np.zeros(len(X)),
        "wrong_shape": np.zeros((len(X), 2)),
        "inf": np.full((len(X), 3), np.inf),
    }
    values["negative"] = P.copy()  # sums to 1, one entry below 0
    values["negative"][0] = [1.5, -0.5, 0.0]
    values["nan"] = P.copy()
    values["nan"][3, 0] = np.nan
    clf = SoftmaxRegressionClassifier().fit(X, y)
    before = clf.__dict__.copy()
    smoothing = kwargs.pop("label_smoothing", None)
    if smoothing is not None:
        clf.set_params(label_smoothing=smoothing)
        before = clf.__dict__.copy()
    call = {k: (values[v] if isinstance(v, str) else v) for k, v in kwargs.items()}
    y_arg = call.pop("y", None)
    with pytest.raises(error, match=match):
        clf.fit(X, y_arg, **call)
    assert clf.__dict__.keys() == before.keys()
    for key, value in before.items():
        assert clf.__dict__[key] is value


# -- offsets -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["Logit", "GLM"])
def test_two_class_offset_matches_statsmodels(model):
    sm = pytest.importorskip("statsmodels.api")
    X, y, rng = _data(n=300, n_classes=2, seed=3)
    offset = rng.normal(scale=0.8, size=len(X))
    exog = sm.add_constant(X, prepend=False)  # coefficients, then the intercept
    if model == "Logit":
        ref = sm.Logit(y, exog, offset=offset).fit(method="newton", tol=1e-14, disp=False)
    else:
        ref = sm.GLM(y, exog, family=sm.families.Binomial(), offset=offset).fit(tol=1e-14)
    clf = SoftmaxRegressionClassifier(C=np.inf, **TIGHT).fit(X, y, offset=offset)
    np.testing.assert_allclose(clf.coef_.ravel(), ref.params[:-1], atol=1e-6)
    np.testing.assert_allclose(clf.intercept_, ref.params[-1:], atol=1e-6)
    # the offset moves the fit: without it the coefficients differ
    plain = SoftmaxRegressionClassifier(C=np.inf, **TIGHT).fit(X, y)
    assert np.abs(plain.coef_.ravel() - ref.params[:-1]).max() > 1e-2
    # prediction with the offset is statsmodels' fitted probability
    np.testing.assert_allclose(
        clf.predict_proba(X, offset=offset)[:, 1], ref.predict(exog, offset=offset), atol=1e-7
    )


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_k_class_offset_matches_direct_minimisation(fit_intercept):
    X, y, rng = _data(n=200, n_classes=4, seed=1)
    n, d, K = *X.shape, 4
    offset = rng.normal(size=(n, K))
    sw = rng.uniform(0.5, 2.0, size=n)
    C = 2.0
    T = np.eye(K)[y]

    def fun(theta):
        W = theta[: d * K].reshape(d, K)
        b = theta[d * K :] if fit_intercept else 0.0
        log_p = log_softmax(X @ W + b + offset, axis=1)
        value = -C * np.sum(sw[:, None] * T * log_p) + 0.5 * np.sum(W**2)
        G = C * sw[:, None] * (np.exp(log_p) - T)
        grad = [(X.T @ G + W).ravel()] + ([G.sum(axis=0)] if fit_intercept else [])
        return value, np.concatenate(grad)

    size = d * K + (K if fit_intercept else 0)
    ref = minimize(
        fun,
        np.zeros(size),
        jac=True,
        method="L-BFGS-B",
        options=dict(gtol=1e-12, ftol=1e-15, maxiter=10_000),
    )
    clf = SoftmaxRegressionClassifier(C=C, fit_intercept=fit_intercept, **TIGHT)
    clf.fit(X, y, sample_weight=sw, offset=offset)
    np.testing.assert_allclose(clf.coef_, ref.x[: d * K].reshape(d, K).T, atol=1e-6)
    if fit_intercept:
        b = ref.x[d * K :]
        np.testing.assert_allclose(clf.intercept_ - clf.intercept_.mean(), b - b.mean(), atol=1e-6)
    assert fun(np.concatenate([clf.coef_.T.ravel(), clf.intercept_ if fit_intercept else []]))[
        0
    ] == pytest.approx(ref.fun, rel=1e-10)


def test_offset_meaning_at_predict_time():
    X, y, rng = _data(n_classes=3)
    o = rng.normal(size=(len(X), 3))
    clf = SoftmaxRegressionClassifier().fit(X, y, offset=o)
    z = X @ clf.coef_.T + clf.intercept_
    np.testing.assert_allclose(clf.decision_function(X, offset=o), z + o, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X, offset=o), log_softmax(z + o, axis=1))
    assert (clf.predict(X, offset=o) == (z + o).argmax(axis=1)).all()
    # a row's common shift changes nothing: the fit equals the one with centred offsets
    centred = SoftmaxRegressionClassifier().fit(X, y, offset=o - o.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(centred.coef_, clf.coef_, atol=1e-7)
    # two classes: (n,) is the positive class's logit offset, the same as any (n, 2) whose
    # columns differ by it
    X2, y2, _ = _data(n_classes=2)
    o2 = rng.normal(size=len(X2))
    a = SoftmaxRegressionClassifier(**TIGHT).fit(X2, y2, offset=o2)
    b = SoftmaxRegressionClassifier(**TIGHT).fit(X2, y2, offset=np.column_stack([-o2 / 2, o2 / 2]))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)
    z2 = X2 @ a.coef_.ravel() + a.intercept_[0]
    np.testing.assert_allclose(a.decision_function(X2, offset=o2), z2 + o2, rtol=1e-12)
    np.testing.assert_allclose(
        a.decision_function(X2, offset=np.column_stack([-o2 / 2, o2 / 2])), z2 + o2, rtol=1e-12
    )


def test_offset_through_pipeline_and_grid_search_with_metadata_routing():
    X, y, rng = _data(n=150, n_classes=3)
    o = rng.normal(scale=2.0, size=(len(X), 3))
    with sklearn.config_context(enable_metadata_routing=True):
        clf = SoftmaxRegressionClassifier()
        clf.set_fit_request(offset=True).set_predict_proba_request(offset=True)
        clf.set_predict_request(offset=True).set_score_request(offset=True)
        clf.set_decision_function_request(offset=True).set_predict_log_proba_request(offset=True)
        pipe = make_pipeline(StandardScaler(), clf).fit(X, y, offset=o)
        Xs = StandardScaler().fit_transform(X)
        direct = SoftmaxRegressionClassifier().fit(Xs, y, offset=o)
        np.testing.assert_allclose(pipe[-1].coef_, direct.coef_, rtol=1e-10)
        np.testing.assert_allclose(
            pipe.predict_proba(X, offset=o), direct.predict_proba(Xs, offset=o), rtol=1e-10
        )
        assert (pipe.predict(X, offset=o) == direct.predict(Xs, offset=o)).all()
        for method in ("decision_function", "predict_log_proba"):
            np.testing.assert_allclose(
                getattr(pipe, method)(X, offset=o), getattr(direct, method)(Xs, offset=o)
            )
        # probability targets route the same way (distillation in a pipeline)
        P = 0.8 * np.eye(3)[y] + 0.2 / 3
        soft = make_pipeline(
            StandardScaler(), SoftmaxRegressionClassifier().set_fit_request(y_proba=True)
        )
        soft.fit(X, y_proba=P)
        np.testing.assert_allclose(
            soft[-1].coef_, SoftmaxRegressionClassifier().fit(Xs, y_proba=P).coef_
        )

        cv = KFold(3)
        search = GridSearchCV(clf, {"C": [0.1, 10.0]}, cv=cv).fit(X, y, offset=o)
    # the same folds by hand: fit and score with each fold's offsets
    for i, C in enumerate([0.1, 10.0]):
        for split, (train, test) in enumerate(cv.split(X)):
            model = SoftmaxRegressionClassifier(C=C).fit(X[train], y[train], offset=o[train])
            expected = model.score(X[test], y[test], offset=o[test])
            assert search.cv_results_[f"split{split}_test_score"][i] == pytest.approx(expected)
    # and scoring without the offsets would have given other numbers
    model = SoftmaxRegressionClassifier(C=10.0).fit(X[50:], y[50:], offset=o[50:])
    assert model.score(X[:50], y[:50]) != model.score(X[:50], y[:50], offset=o[:50])


# -- label smoothing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_classes, solver, class_weight",
    [
        (3, "lbfgs", None),
        (3, "newton-cg", None),
        (3, "owlqn", None),
        (2, "auto", None),
        (2, "lbfgs", {1: 3.0}),  # unequal class weights: the dense path
        (4, "newton-cg", "balanced"),
    ],
)
def test_label_smoothing_equals_smoothed_y_proba(n_classes, solver, class_weight):
    X, y, rng = _data(n_classes=n_classes)
    sw = rng.uniform(0.5, 2.0, size=len(X))
    eps = 0.2
    l1 = 0.3 if solver == "owlqn" else 0.0
    params = dict(solver=solver, class_weight=class_weight, l1_ratio=l1, **TIGHT)
    smooth = SoftmaxRegressionClassifier(label_smoothing=eps, **params).fit(X, y, sample_weight=sw)
    target = (1 - eps) * np.eye(n_classes)[y] + eps / n_classes
    soft = SoftmaxRegressionClassifier(**params).fit(X, y_proba=target, sample_weight=sw)
    np.testing.assert_allclose(smooth.coef_, soft.coef_, atol=1e-8)
    np.testing.assert_allclose(smooth.intercept_, soft.intercept_, atol=1e-8)
    # it smooths: the plain fit differs, and is more confident
    plain = SoftmaxRegressionClassifier(**params).fit(X, y, sample_weight=sw)
    assert np.abs(plain.coef_).sum() > np.abs(smooth.coef_).sum()


def test_label_smoothing_applies_to_y_proba_as_in_pytorch():
    X, y, rng = _data(n_classes=3)
    P = rng.dirichlet(np.ones(3), size=len(X))
    eps = 0.25
    a = SoftmaxRegressionClassifier(label_smoothing=eps, **TIGHT).fit(X, y_proba=P)
    b = SoftmaxRegressionClassifier(**TIGHT).fit(X, y_proba=(1 - eps) * P + eps / 3)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)


def test_label_smoothing_minimises_pytorchs_smoothed_cross_entropy():
    """At the fit, no small step lowers the objective written with the smoothed targets."""
    X, y, rng = _data(n_classes=3)
    eps, C = 0.1, 1.0
    clf = SoftmaxRegressionClassifier(C=C, label_smoothing=eps, **TIGHT).fit(X, y)
    T = (1 - eps) * np.eye(3)[y] + eps / 3
    f0 = _objective(clf, X, T, np.ones(len(X)), np.ones(3))
    for _ in range(5):
        moved = SoftmaxRegressionClassifier(C=C, label_smoothing=eps)
        moved.classes_, moved.intercept_ = clf.classes_, clf.intercept_
        moved.coef_ = clf.coef_ + 1e-3 * rng.normal(size=clf.coef_.shape)
        assert _objective(moved, X, T, np.ones(len(X)), np.ones(3)) > f0


# -- what assumes one label per row ------------------------------------------------------


@pytest.mark.parametrize("how", ["y_proba", "offset", "label_smoothing"])
def test_inference_refuses_fits_it_cannot_describe(how):
    X, y, rng = _data(n_classes=3)
    clf = SoftmaxRegressionClassifier(C=np.inf, **TIGHT)
    if how == "y_proba":
        clf.fit(X, y_proba=0.9 * np.eye(3)[y] + 0.1 / 3)
    elif how == "offset":
        clf.fit(X, y, offset=rng.normal(size=(len(X), 3)))
    else:
        clf.set_params(label_smoothing=0.1).fit(X, y)
    with pytest.raises(ValueError, match="inference\\(\\) needs a model fitted to class labels"):
        clf.inference(X, y)
    clf.set_params(label_smoothing=0.0).fit(X, y)  # refitted on labels: it works again
    assert np.all(np.isfinite(clf.inference(X, y).bse))


def test_skops_round_trip_of_soft_and_offset_fits(tmp_path):
    sio = pytest.importorskip("skops.io")
    from softmax_sk._persistence import TRUSTED_TYPES

    X, y, rng = _data(n_classes=3)
    o = rng.normal(size=(len(X), 3))
    frame = pd.DataFrame(0.8 * np.eye(3)[y] + 0.2 / 3, columns=["a", "b", "c"])
    for clf in (
        SoftmaxRegressionClassifier(label_smoothing=0.1).fit(X, y_proba=frame),
        SoftmaxRegressionClassifier().fit(X, y, offset=o),
    ):
        path = tmp_path / "model.skops"
        sio.dump(clf, path)
        loaded = sio.load(path, trusted=TRUSTED_TYPES)
        np.testing.assert_array_equal(
            loaded.predict_proba(X, offset=o), clf.predict_proba(X, offset=o)
        )
        np.testing.assert_array_equal(loaded.classes_, clf.classes_)
        with pytest.raises(ValueError, match="inference"):
            loaded.inference(X, y)
