"""SoftmaxRegressionCV against GridSearchCV over the classifier and LogisticRegressionCV."""

import numpy as np
import pytest
from conftest import make_problem
from joblib import parallel_backend
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from softmax_sk import SoftmaxRegressionClassifier, SoftmaxRegressionCV

TIGHT = 1e-10


def _split_scores(search, n_folds):
    """GridSearchCV's test scores as (n_folds, n_candidates)."""
    return np.array([search.cv_results_[f"split{k}_test_score"] for k in range(n_folds)])


def _sklearn_cv(Cs, cv, **kwargs):
    return LogisticRegressionCV(
        Cs=Cs,
        cv=cv,
        scoring="neg_log_loss",
        tol=TIGHT,
        max_iter=1000,
        l1_ratios=(0.0,),
        use_legacy_attributes=True,
        **kwargs,
    )


# The weight-equivalence checks compare weighted and repeated rows to 1e-7. On their
# data (15 rows, 30 features, separable) the folds choose the largest C, and there a
# fit that stops within tol=1e-4 of the optimum stops at a point that depends on the
# rounding of its sums: SoftmaxRegressionClassifier(C=100) alone fails them at the
# default tol, and passes from tol=1e-10. So the configuration that reaches C=1e4 fits
# to tol=1e-12 (it then passes every check); the other keeps C <= 1, at tol=1e-10 (at
# tol=1e-6 its decision_function differed by 2e-7, relative, with the numpy kernels).
CHECKED = [
    SoftmaxRegressionCV(Cs=3, cv=3, tol=1e-12, max_iter=1000),
    SoftmaxRegressionCV(Cs=[0.01, 1.0], cv=3, tol=1e-10),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_same_scores_and_choice_as_grid_search(n_classes):
    X, y = make_problem(n_classes, n_samples=240)
    Cs = np.logspace(2, -3, 6)  # weakest penalty first: the path runs them the other way
    ours = SoftmaxRegressionCV(Cs=Cs, cv=4, tol=TIGHT, max_iter=500).fit(X, y)
    search = GridSearchCV(
        SoftmaxRegressionClassifier(tol=TIGHT, max_iter=500),
        {"C": Cs},
        cv=4,
        scoring="neg_log_loss",
    ).fit(X, y)

    np.testing.assert_array_equal(ours.Cs_, Cs)
    scores = ours.scores_[ours.classes_[-1]]
    np.testing.assert_allclose(scores, _split_scores(search, 4), rtol=0, atol=1e-9)
    assert ours.C_[0] == search.best_params_["C"]
    np.testing.assert_allclose(ours.coef_, search.best_estimator_.coef_, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, search.best_estimator_.intercept_, atol=1e-7)
    np.testing.assert_allclose(ours.predict_proba(X), search.predict_proba(X), atol=1e-8)


def test_elastic_net_grid_matches_grid_search():
    X, y = make_problem(3, n_samples=200)
    Cs, l1_ratios = [0.05, 1.0], [0.0, 0.5, 1.0]
    ours = SoftmaxRegressionCV(Cs=Cs, l1_ratios=l1_ratios, cv=3, tol=1e-9, max_iter=500)
    ours.fit(X, y)
    search = GridSearchCV(
        SoftmaxRegressionClassifier(tol=1e-9, max_iter=500),
        {"C": Cs, "l1_ratio": l1_ratios},  # ParameterGrid: C outer, l1_ratio inner
        cv=3,
        scoring="neg_log_loss",
    ).fit(X, y)

    scores = ours.scores_[ours.classes_[0]]
    assert scores.shape == (3, 2, 3)
    np.testing.assert_allclose(scores.reshape(3, -1), _split_scores(search, 3), atol=1e-8)
    assert (ours.C_[0], ours.l1_ratio_[0]) == (
        search.best_params_["C"],
        search.best_params_["l1_ratio"],
    )
    assert ours.coefs_paths_[ours.classes_[0]].shape == (3, 2, 3, X.shape[1] + 1)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_matches_logistic_regression_cv(n_classes):
    X, y = make_problem(n_classes, n_samples=240, seed=1)
    y = np.array(["ant", "bee", "cat"])[y]  # string labels as dict keys
    Cs = np.logspace(-3, 2, 5)
    ours = SoftmaxRegressionCV(Cs=Cs, l1_ratios=(0.0,), cv=3, tol=TIGHT, max_iter=500)
    ours.fit(X, y)
    ref = _sklearn_cv(Cs, 3).fit(X, y)

    assert ours.scores_.keys() == ref.scores_.keys()
    assert ours.C_.shape == ref.C_.shape and ours.l1_ratio_.shape == ref.l1_ratio_.shape
    np.testing.assert_array_equal(ours.C_, ref.C_)
    np.testing.assert_array_equal(ours.Cs_, ref.Cs_)
    assert ours.n_iter_.shape == ref.n_iter_.shape
    for key in ref.scores_:
        assert ours.scores_[key].shape == ref.scores_[key].shape
        np.testing.assert_allclose(ours.scores_[key], ref.scores_[key], atol=1e-6)
        assert ours.coefs_paths_[key].shape == ref.coefs_paths_[key].shape
        np.testing.assert_allclose(ours.coefs_paths_[key], ref.coefs_paths_[key], atol=1e-5)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)


def test_weights_and_no_refit_match_logistic_regression_cv():
    """Sample weights (in the fits and the scorer), 'balanced' on all of y, refit=False."""
    X, y = make_problem(3, n_samples=240, seed=2)
    keep = (y != 2) | (np.arange(y.size) % 3 == 0)  # make class 2 rare
    X, y = X[keep], y[keep]
    sw = np.random.default_rng(0).uniform(0.2, 3.0, y.size)
    Cs = [0.01, 0.3, 10.0]
    kwargs = dict(cv=KFold(3, shuffle=True, random_state=0), class_weight="balanced", refit=False)
    ours = SoftmaxRegressionCV(Cs=Cs, tol=TIGHT, max_iter=500, **kwargs).fit(X, y, sw)
    ref = _sklearn_cv(Cs, **kwargs).fit(X, y, sample_weight=sw)

    np.testing.assert_allclose(ours.scores_[0], ref.scores_[0][:, :, 0], atol=1e-6)
    np.testing.assert_allclose(ours.C_, ref.C_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)
    assert not hasattr(ours, "convergence_")


def test_parallel_folds_give_the_same_result():
    X, y = make_problem(3, n_samples=150)
    serial = SoftmaxRegressionCV(Cs=4, cv=3).fit(X, y)
    with parallel_backend("threading"):
        threaded = SoftmaxRegressionCV(Cs=4, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(threaded.scores_[0], serial.scores_[0], rtol=1e-12)
    np.testing.assert_allclose(threaded.coef_, serial.coef_, rtol=1e-12)


def test_float32_and_integer_Cs():
    X, y = make_problem(3, n_samples=150)
    clf = SoftmaxRegressionCV(Cs=3, cv=3, tol=1e-3).fit(X.astype(np.float32), y)
    np.testing.assert_array_equal(clf.Cs_, np.logspace(-4, 4, 3))
    assert clf.coef_.dtype == np.float32 and clf.intercept_.dtype == np.float32
    assert clf.scores_[0].shape == (3, 3)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"Cs": [1.0, -1.0]}, "Cs must be"),
        ({"Cs": []}, "Cs must be"),
        ({"l1_ratios": [0.5, 2.0]}, "l1_ratios must be"),
        ({"l1_ratios": [0.5], "solver": "lbfgs"}, "supports only l1_ratio=0"),
    ],
)
def test_bad_grids_say_what_is_wrong(params, message):
    X, y = make_problem(3, n_samples=60)
    with pytest.raises(ValueError, match=message):
        SoftmaxRegressionCV(cv=3, **params).fit(X, y)


def test_a_class_missing_from_a_training_fold_is_refused():
    X, y = make_problem(3, n_samples=60)
    y[:] = np.arange(60) % 2
    y[0] = 2  # one sample: the fold that tests it trains without class 2
    with pytest.raises(ValueError, match="fold 0 has no sample of class 2"):
        SoftmaxRegressionCV(cv=KFold(3)).fit(X, y)


def test_bench_cv_runs_and_writes_json_and_markdown(tmp_path, monkeypatch):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    import bench_cv
    import bench_fit

    monkeypatch.setattr(bench_fit, "PAUSE_SECONDS", 0.0)
    monkeypatch.setattr(bench_cv, "MAX_ITER", 50)
    monkeypatch.setattr(bench_cv, "REFERENCE_TOL", 1e-4)
    args = "--datasets dense_100k_100 --scale 0.003 --n-Cs 3 --folds 3 --tols 1e-4"
    bench_cv.main([*args.split(), "--repeats", "1", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "cv.json").read_text())
    rows = data["results"][0]["sweeps"][0]["rows"]
    assert [r["contender"] for r in rows][0] == "SoftmaxRegressionCV"
    assert len(rows) == 3 and all(r["seconds"] > 0 and np.isfinite(r["C"]) for r in rows)
    assert (tmp_path / "cv.md").read_text().count("\n| 0.0001 | ") == 3
    # the reference is SoftmaxRegressionCV at this same tol: equal scores at tol 1e-4
    assert "\n| SoftmaxRegressionCV | 0.0001 | " in (tmp_path / "cv.md").read_text()


def test_bench_cv_compares_each_contender_at_its_loosest_tol_with_equal_scores():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    import bench_cv

    def row(name, seconds, diff):
        return {"contender": name, "seconds": seconds, "max_score_diff": diff}

    res = {
        "sweeps": [
            {"tol": 1e-6, "rows": [row("ours", 2.0, 1e-5), row("other", 9.0, 5e-4)]},
            {"tol": 1e-4, "rows": [row("ours", 1.0, 2e-4), row("other", 3.0, 0.4)]},
            {"tol": 1e-8, "rows": [row("ours", 4.0, 1e-7), row("other", 20.0, 1e-6)]},
        ]
    }
    best = bench_cv.at_equal_scores(res, 1e-3)
    assert (best["ours"]["tol"], best["ours"]["seconds"]) == (1e-4, 1.0)
    assert (best["other"]["tol"], best["other"]["seconds"]) == (1e-6, 9.0)
    assert bench_cv.at_equal_scores(res, 1e-7)["other"] is None


def test_each_fold_path_is_warm_started():
    """Along the path each fit starts from the previous C's optimum: fewer iterations than cold."""
    X, y = make_problem(3, n_samples=200)
    Cs = np.logspace(-3, 3, 7)
    folds = list(KFold(2).split(X, y))
    ours = SoftmaxRegressionCV(Cs=Cs, cv=folds, tol=1e-8, max_iter=500).fit(X, y)
    warm = ours.n_iter_[0]  # (n_folds, n_Cs)
    cold = np.array(
        [
            [
                SoftmaxRegressionClassifier(C=C, tol=1e-8, max_iter=500)
                .fit(X[train], y[train])
                .n_iter_[0]
                for C in Cs
            ]
            for train, _ in folds
        ]
    )
    np.testing.assert_array_equal(warm[:, 0], cold[:, 0])  # the first fit starts from zero
    assert np.all(warm[:, 1:] <= cold[:, 1:]) and warm.sum() < 0.8 * cold.sum()


def test_warm_started_lbfgs_path_reaches_the_promised_suboptimality():
    """From the previous C's optimum, L-BFGS has no curvature pair yet and its estimate
    ``pg.D^-1.pg`` uses the Hessian diagonal at 0, far from the curvature there: at large C
    it stopped at once, 2e-4 above the optimum with tol=1e-4. Every fit of the path must end
    within tol (relative) of the optimum, measured by scikit-learn's log_loss."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1600, 100))
    logits = X @ rng.normal(size=(100, 10)) * 0.3 + rng.gumbel(size=(1600, 10))
    y = logits.argmax(axis=1)

    def objective(model, C):
        return C * y.size * log_loss(y, model.predict_proba(X)) + 0.5 * (model.coef_**2).sum()

    warm = SoftmaxRegressionClassifier(solver="lbfgs", tol=1e-4, max_iter=1000, warm_start=True)
    for C in np.logspace(-4, 4, 10)[5:]:  # the path's ratio; from C=2.8 on
        warm.set_params(C=C).fit(X, y)
        best = SoftmaxRegressionClassifier(C=C, solver="newton-cg", tol=1e-10, max_iter=1000)
        best.fit(X, y)
        optimum = objective(best, C)
        assert (objective(warm, C) - optimum) / optimum <= 1e-4, C


@pytest.mark.parametrize("scoring", ["neg_log_loss", "neg_brier_score", "f1_macro"])
def test_a_test_fold_without_a_class_scores_as_logistic_regression_cv(scoring):
    """A rare class absent from a test fold: log-loss and Brier raised deep inside
    scikit-learn ("y_true and y_prob contain different number of classes"), and the
    macro F1 averaged fewer classes than LogisticRegressionCV's (0.098 apart)."""
    X = np.random.RandomState(0).randn(60, 3)
    y = np.array([0] * 28 + [1] * 28 + [2] * 4)
    ours = SoftmaxRegressionCV(Cs=3, cv=5, scoring=scoring, tol=1e-10).fit(X, y)
    ref = LogisticRegressionCV(Cs=3, cv=5, scoring=scoring, tol=1e-10, max_iter=10_000)
    ref.fit(X, y)
    np.testing.assert_allclose(ours.scores_[0], ref.scores_[0], rtol=0, atol=1e-6)
    assert np.isfinite(ours.score(X[:20], y[:20]))  # two classes only, scored all the same
