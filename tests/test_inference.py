"""Inference (standard errors, tests, robust covariance, marginal effects) against statsmodels.

statsmodels' MNLogit and Logit, fitted by Newton's method to 1e-12, are the
independent reference; its anes96 data with the Stata-verified results of its
own test suite (``results_discrete.Anes``) is the main case.
"""

import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from softmax_sk import InferenceResults, SoftmaxRegressionClassifier, _inference

sm = pytest.importorskip("statsmodels.api")
pd = pytest.importorskip("pandas")

TIGHT = {"C": np.inf, "tol": 1e-10, "max_iter": 1000}


@pytest.fixture(scope="module")
def anes():
    data = sm.datasets.anes96.load_pandas()
    X, y = data.exog, data.endog.to_numpy()
    exog = sm.add_constant(np.asarray(X), prepend=False)  # as in statsmodels' own tests
    groups = np.arange(y.size) // 7  # clusters that straddle blocks of 100 rows
    ref = {
        cov: sm.MNLogit(y, exog).fit(
            method="newton",
            disp=False,
            tol=1e-12,
            maxiter=100,
            cov_type=cov,
            **({"cov_kwds": {"groups": groups}} if cov == "cluster" else {}),
        )
        for cov in ("nonrobust", "HC0", "cluster")
    }
    clf = SoftmaxRegressionClassifier(**TIGHT).fit(X, y)
    return X, y, exog, groups, ref, clf


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 100 rows, so sums (and clusters) run over several blocks."""
    monkeypatch.setattr(_inference, "_MAX_BLOCK_ROWS", 100)


def assert_rel(actual, desired, rtol):
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=0)


def test_anes96_matches_mnlogit(anes, small_blocks):
    X, y, _, _, ref, clf = anes
    res, r = clf.inference(X, y), ref["nonrobust"]
    assert isinstance(res, InferenceResults)
    assert_rel(res.params, r.params, 1e-5)
    assert_rel(res.bse, r.bse, 1e-5)
    assert_rel(res.tvalues, r.tvalues, 1e-5)
    assert_rel(res.pvalues, r.pvalues, 1e-5)
    assert_rel(res.conf_int(), r.conf_int().transpose(1, 0, 2), 1e-5)
    assert_rel(res.conf_int(0.1), r.conf_int(0.1).transpose(1, 0, 2), 1e-5)
    assert_rel(res.cov_params(), r.cov_params(), 1e-5)
    for name in ("llf", "llnull", "llr", "aic", "bic", "nobs", "df_model", "df_resid"):
        assert_rel(getattr(res, name), getattr(r, name), 1e-8)
    assert_rel(res.prsquared, r.prsquared, 1e-8)
    assert_rel(res.llr_pvalue, r.llr_pvalue, 1e-5)
    assert res.param_names == [*X.columns, "const"]
    assert res.class_names == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and res.base_class == 0.0


def test_anes96_matches_stata(anes):
    """The Stata results that statsmodels' test suite checks MNLogit against."""
    from statsmodels.discrete.tests.results.results_discrete import Anes

    stata = Anes.mnlogit_basezero
    X, y, *_, clf = anes
    res = clf.inference(X, y)
    np.testing.assert_allclose(res.params, stata.params, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(res.bse, stata.bse, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        [res.llf, res.llnull, res.aic, res.bic],
        [stata.llf, stata.llnull, stata.aic, stata.bic],
        rtol=1e-9,
    )
    margeff = res.get_margeff()
    np.testing.assert_allclose(margeff.margeff, stata.margeff_dydx_overall, atol=1e-6)
    np.testing.assert_allclose(margeff.margeff_se, stata.margeff_dydx_overall_se, atol=1e-6)


@pytest.mark.parametrize("cov_type", ["HC0", "cluster"])
def test_robust_covariance_matches_mnlogit(anes, small_blocks, cov_type):
    X, y, _, groups, ref, clf = anes
    res = clf.inference(X, y, cov_type=cov_type, groups=groups if cov_type == "cluster" else None)
    r = ref[cov_type]
    assert_rel(res.cov_params(), r.cov_params(), 1e-5)
    assert_rel(res.bse, r.bse, 1e-5)
    assert_rel(res.pvalues, r.pvalues, 1e-5)
    margeff, m = res.get_margeff(), r.get_margeff()
    assert_rel(margeff.margeff_se, m.margeff_se, 1e-5)
    if cov_type == "cluster":
        assert res.n_groups == 135 and "135 clusters" in res.summary()


def test_hc1_is_hc0_with_the_small_sample_factor(anes):
    # statsmodels' MNLogit reports HC0 for cov_type="HC1" (no correction); HC1 is
    # HC0 times n / (n - k), statsmodels' cov_white_simple(use_correction=True).
    X, y, _, _, ref, clf = anes
    res = clf.inference(X, y, cov_type="HC1")
    n, k = y.size, ref["HC0"].params.size
    assert_rel(res.cov_params(), ref["HC0"].cov_params() * n / (n - k), 1e-5)


def test_marginal_effects_match_get_margeff(anes, small_blocks):
    X, y, _, _, ref, clf = anes
    margeff, m = clf.inference(X, y).get_margeff(), ref["nonrobust"].get_margeff()
    assert_rel(margeff.margeff, m.margeff, 1e-5)
    assert_rel(margeff.margeff_se, m.margeff_se, 1e-5)
    assert_rel(margeff.pvalues, m.pvalues, 1e-5)
    assert_rel(margeff.conf_int(), m.conf_int().transpose(0, 2, 1), 1e-5)
    frame = margeff.summary_frame()
    assert frame.shape == (35, 6) and frame.loc[(1.0, "selfLR"), "dy/dx"] == margeff.margeff[1, 1]


def test_default_tol_is_refined_to_the_optimum(anes):
    X, y, _, _, ref, _ = anes
    clf = SoftmaxRegressionClassifier(C=np.inf).fit(X, y)  # tol=1e-4
    res = clf.inference(X, y)
    steps, moved = res.refinement
    assert steps >= 1 and 0 < moved < 0.5
    assert_rel(res.params, ref["nonrobust"].params, 1e-5)
    assert_rel(res.bse, ref["nonrobust"].bse, 1e-5)


def test_fit_far_from_the_optimum_is_refused(anes):
    X, y, *_ = anes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = SoftmaxRegressionClassifier(C=np.inf, max_iter=2, solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="not at the maximum.*tighter tol"):
        clf.inference(X, y)


def test_base_class(anes):
    X, y, exog, *_, clf = anes
    # statsmodels' base is the smallest label: relabel so that class 3 comes first.
    relabelled = (y - 3) % 7
    r = sm.MNLogit(relabelled, exog).fit(method="newton", disp=False, tol=1e-12)
    res = clf.inference(X, y, base_class=3.0)
    order = [int((c - 3) % 7) - 1 for c in res.class_names]  # statsmodels' column of each
    assert res.base_class == 3.0 and 3.0 not in res.class_names
    assert_rel(res.params, r.params[:, order], 1e-5)
    assert_rel(res.bse, r.bse[:, order], 1e-5)
    assert res.llf == pytest.approx(r.llf, rel=1e-10)


def test_two_classes_match_logit(small_blocks):
    data = sm.datasets.spector.load_pandas()
    X, y = data.exog, data.endog.to_numpy().astype(int)
    X = pd.concat([X] * 4, ignore_index=True)  # 128 rows: two blocks
    y = np.tile(y, 4)
    r = sm.Logit(y, sm.add_constant(X, prepend=False)).fit(disp=False, tol=1e-12)
    res = SoftmaxRegressionClassifier(**TIGHT).fit(X, y).inference(X, y)
    assert res.params.shape == (4, 1)
    assert_rel(res.params[:, 0], r.params, 1e-5)
    assert_rel(res.bse[:, 0], r.bse, 1e-5)
    assert_rel(res.pvalues[:, 0], r.pvalues, 1e-5)
    for name in ("llf", "llnull", "aic", "bic", "prsquared"):
        assert_rel(getattr(res, name), getattr(r, name), 1e-8)
    margeff, m = res.get_margeff(), r.get_margeff()
    assert_rel(margeff.margeff[:, 1], m.margeff, 1e-5)
    assert_rel(margeff.margeff_se[:, 1], m.margeff_se, 1e-5)
    np.testing.assert_allclose(margeff.margeff[:, 0], -m.margeff, rtol=1e-5)


def test_frequency_weights_are_replicated_rows(anes):
    X, y, exog, groups, *_ = anes
    rng = np.random.default_rng(0)
    w = rng.integers(0, 4, size=y.size)  # zero weights: rows dropped
    rep = np.repeat(np.arange(y.size), w)
    clf = SoftmaxRegressionClassifier(**TIGHT).fit(X, y, sample_weight=w)
    for cov in ("nonrobust", "HC1", "cluster"):
        kw = {"cov_kwds": {"groups": groups[rep]}} if cov == "cluster" else {}
        r = sm.MNLogit(y[rep], exog[rep]).fit(
            method="newton", disp=False, tol=1e-12, cov_type="HC0" if cov == "HC1" else cov, **kw
        )
        res = clf.inference(
            X, y, sample_weight=w, cov_type=cov, groups=groups if cov == "cluster" else None
        )
        factor = rep.size / (rep.size - r.params.size) if cov == "HC1" else 1
        assert_rel(res.params, r.params, 1e-5)
        assert_rel(res.cov_params(), r.cov_params() * factor, 1e-5)
        assert res.nobs == rep.size
        assert_rel([res.llf, res.llnull, res.aic, res.bic], [r.llf, r.llnull, r.aic, r.bic], 1e-8)


def test_without_intercept_matches_mnlogit(anes):
    X, y, *_ = anes
    r = sm.MNLogit(y, np.asarray(X)).fit(method="newton", disp=False, tol=1e-12)
    res = SoftmaxRegressionClassifier(fit_intercept=False, **TIGHT).fit(X, y).inference(X, y)
    assert "const" not in res.param_names
    assert_rel(res.params, r.params, 1e-5)
    assert_rel(res.bse, r.bse, 1e-5)
    assert_rel(
        [res.llf, res.llnull, res.aic, res.df_model], [r.llf, r.llnull, r.aic, r.df_model], 1e-8
    )


def test_sparse_and_float32_input(anes):
    import scipy.sparse as sp

    X, y, _, _, ref, _ = anes
    Xs = sp.csr_matrix(np.asarray(X))
    res = SoftmaxRegressionClassifier(**TIGHT).fit(Xs, y).inference(Xs, y)
    assert_rel(res.bse, ref["nonrobust"].bse, 1e-5)
    X32 = np.asarray(X, dtype=np.float32)
    clf = SoftmaxRegressionClassifier(C=np.inf, tol=1e-6, max_iter=1000).fit(X32, y)
    res = clf.inference(X32, y)  # refined in float64 to the float32 data's optimum
    r = sm.MNLogit(y, sm.add_constant(X32.astype(np.float64), prepend=False)).fit(
        method="newton", disp=False, tol=1e-12
    )
    assert_rel(res.params, r.params, 1e-5)
    assert_rel(res.bse, r.bse, 1e-5)


@pytest.mark.parametrize("cov_type", ["HC1", "cluster"])
def test_small_sample_corrections_refuse_weights_that_count_no_more_than_the_parameters(
    cov_type,
):
    """HC1 and cluster covariances scale by nobs / (nobs - k) and (nobs - 1) / (nobs - k),
    nobs the weights' sum: normalised weights (sum 1, 6 parameters) made the cluster
    standard errors 9e-10 (p = 0) and HC1 a 'singular' error; HC0 stays available."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(200, 2)), rng.integers(0, 3, 200)
    weights = np.full(200, 1 / 200)
    clf = SoftmaxRegressionClassifier(C=np.inf, tol=1e-10).fit(X, y, sample_weight=weights)
    groups = {"groups": np.arange(200) // 10} if cov_type == "cluster" else {}
    with pytest.raises(ValueError, match=r"sum of the sample weights.*here 1, not above the 6"):
        clf.inference(X, y, weights, cov_type=cov_type, **groups)
    assert np.all(clf.inference(X, y, weights, cov_type="HC0").bse > 1)


def test_iris_separation_is_a_clear_error():
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit's own ConvergenceWarning
        clf = SoftmaxRegressionClassifier(C=np.inf, max_iter=300).fit(X, y)
    with pytest.raises(ValueError, match=r"separated.*do(es)? not exist.*remove or merge"):
        clf.inference(X, y)


def test_separation_without_the_linear_program_is_still_refused(monkeypatch):
    # Beyond _MAX_LP_NONZEROS the program is skipped; the fitted model's
    # information matrix or its distance to the (non-existent) optimum refuses.
    monkeypatch.setattr(_inference, "_MAX_LP_NONZEROS", 0)
    X, y = load_iris(return_X_y=True)
    for max_iter in (100, 1000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = SoftmaxRegressionClassifier(C=np.inf, tol=1e-10, max_iter=max_iter).fit(X, y)
        with pytest.raises(ValueError, match="singular|not at the maximum"):
            clf.inference(X, y)


def test_quasi_separation_by_a_dummy_without_the_linear_program_is_refused(monkeypatch):
    """A dummy that is 1 only on some rows of one class (quasi-separation): beyond
    _MAX_LP_NONZEROS the program is skipped, the information matrix stays regular and the
    fit is near its (non-existent) optimum, but Newton's steps never settle: refused,
    naming the dummy (it used to return p = 0.998 with a standard error of 7,727)."""
    rng = np.random.default_rng(0)
    n, d, K = 3000, 4, 4
    X = rng.normal(size=(n, d))
    P = softmax(X @ rng.normal(size=(d, K)) * 0.5, axis=1)
    y = (P.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    dummy = np.zeros(n)
    dummy[np.flatnonzero(y == K - 1)[:20]] = 1.0
    X = np.column_stack([X, dummy])
    clf = SoftmaxRegressionClassifier(C=np.inf, tol=1e-8, max_iter=500).fit(X, y)
    with pytest.raises(ValueError, match=r"separated.*\['x4'\]"):
        clf.inference(X, y)  # the program finds it
    monkeypatch.setattr(_inference, "_MAX_LP_NONZEROS", 0)
    with pytest.raises(ValueError, match=r"not reached.*'x4'.*separation.*skipped"):
        clf.inference(X, y)


def test_quasi_separation_in_two_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (rng.random(200) < 0.5).astype(int)
    X[:, 2] = np.where(y == 1, np.abs(X[:, 2]), -np.abs(X[:, 2]))  # x2 >= 0 exactly for y = 1
    X[:5, 2] = 0.0  # some on the boundary: quasi-complete
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = SoftmaxRegressionClassifier(C=np.inf).fit(X, y)
    with pytest.raises(ValueError, match=r"separated.*\['x2'\]"):
        clf.inference(X, y)


def test_penalised_and_class_weighted_fits_are_refused(anes):
    X, y, *_ = anes
    for params, match in [
        ({"C": 1.0}, "C=np.inf"),
        ({"C": 1.0, "l1_ratio": 1.0}, "biased"),
        ({"C": np.inf, "class_weight": "balanced"}, "class_weight=None"),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the L1 fit's ConvergenceWarning: beside the point
            clf = SoftmaxRegressionClassifier(max_iter=100, **params).fit(X, y)
        with pytest.raises(ValueError, match=match):
            clf.inference(X, y)
        # What the model was fitted with counts, not parameters set since.
        with pytest.raises(ValueError, match=match):
            clf.set_params(C=np.inf, class_weight=None).inference(X, y)


def test_bad_input(anes):
    X, y, *_, clf = anes
    with pytest.raises(ValueError, match="cov_type must be"):
        clf.inference(X, y, cov_type="HC3")
    with pytest.raises(ValueError, match="needs groups"):
        clf.inference(X, y, cov_type="cluster")
    with pytest.raises(ValueError, match="needs groups"):
        clf.inference(X, y, groups=np.zeros(y.size))
    with pytest.raises(ValueError, match="at least 2 clusters"):
        clf.inference(X, y, cov_type="cluster", groups=np.zeros(y.size))
    with pytest.raises(ValueError, match="one cluster label per sample"):
        clf.inference(X, y, cov_type="cluster", groups=np.zeros(3))
    with pytest.raises(ValueError, match="base_class=9"):
        clf.inference(X, y, base_class=9)
    with pytest.raises(ValueError, match="not among the fitted classes"):
        clf.inference(X, np.where(y == 6, 7, y))
    with pytest.raises(ValueError, match=r"\[6.0\] have no observations"):
        clf.inference(X[y < 6], y[y < 6])
    with pytest.raises(ValueError, match="y has 3 samples"):
        clf.inference(X, y[:3])
    with pytest.raises(ValueError, match="alpha"):
        clf.inference(X, y).conf_int(alpha=1.5)


def test_collinear_and_constant_features_are_named(anes):
    X, y, *_ = anes
    dup = X.assign(selfLR2=2 * X["selfLR"])
    clf = SoftmaxRegressionClassifier(**TIGHT).fit(dup, y)
    with pytest.raises(ValueError, match=r"collinear.*'selfLR'.*'selfLR2'"):
        clf.inference(dup, y)
    const = X.assign(one=1.0)
    clf = SoftmaxRegressionClassifier(**TIGHT).fit(const, y)
    with pytest.raises(ValueError, match=r"collinear.*'one'.*'const'"):
        clf.inference(const, y)


def test_summary_and_frame(anes):
    X, y, _, _, ref, clf = anes
    res = clf.inference(X, y)
    text = str(res.summary())
    assert "Log-likelihood: -1461.92" in text and "y=6.0" in text and "const" in text
    assert "nan" not in text.lower() and "inf" not in text.lower()
    frame = res.summary_frame()
    assert frame.shape == (36, 6)
    assert list(frame.columns) == ["coef", "std err", "z", "P>|z|", "[0.025", "0.975]"]
    np.testing.assert_allclose(frame.loc[6.0, "coef"], ref["nonrobust"].params[:, 5], rtol=1e-5)
    np.testing.assert_allclose(
        frame.loc[(2.0, "const"), "std err"], ref["nonrobust"].bse[5, 1], rtol=1e-5
    )


def test_pipeline_final_step_with_transformed_names(anes):
    X, y, exog, *_ = anes
    pipe = make_pipeline(StandardScaler(), SoftmaxRegressionClassifier(**TIGHT))
    pipe.set_output(transform="pandas").fit(X, y)
    res = pipe[-1].inference(pipe[:-1].transform(X), y)
    assert res.param_names == [*X.columns, "const"]
    scaled = StandardScaler().fit_transform(np.asarray(X))
    r = sm.MNLogit(y, sm.add_constant(scaled, prepend=False)).fit(
        method="newton", disp=False, tol=1e-12
    )
    assert_rel(res.bse, r.bse, 1e-5)
