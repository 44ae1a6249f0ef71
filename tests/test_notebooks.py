"""Every notebook in notebooks/ runs top to bottom, fast, and shows what it claims.

Each ``notebooks/*.ipynb`` is collected on its own (a new notebook is tested by adding the
file): it must be nbformat 4, committed without outputs, and its code cells, run in order in
one namespace (``conftest.run_notebook``; matplotlib's Agg backend, figures closed after each
cell), must finish in under 60 s. ``CLAIMS`` then checks, per notebook, the numbers its prose
states, on the variables the notebook left behind, and that the teaching notebooks draw
figures.

BLAS is held to one thread while a notebook runs: the problems are small, results do not
depend on it, and on a loaded shared machine BLAS threads spinning for cores made the same
code up to 100x slower (a LogisticRegression fit on digits: 0.3 s with one thread, 50 s with
two, on the development machine). threadpoolctl only limits the libraries already loaded, and
scipy ships its own OpenBLAS, so scipy and scikit-learn are imported first.
"""

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import run_notebook

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
TIME_LIMIT_S = 60


def _statistics(ns):
    rel = ns["rel"]
    assert rel(ns["res"].bse, ns["ref"].bse) < 1e-5
    assert rel(ns["clustered"].bse, ns["ref_cluster"].bse) < 1e-5
    assert ns["scaled"].param_names == [*ns["X"].columns, "const"]


def _targets_and_offsets(ns):
    # shares beat the majority vote, replication and smoothing agree, and the offset fit is
    # statsmodels'
    assert ns["ce_shares"] < ns["ce_majority"]
    assert ns["coef_gap"] < 1e-6
    assert ns["offset_gap"] < 1e-5
    assert ns["smoothing_gap"] < 1e-6


def _from_scratch(ns):
    assert ns["shift_invariance_error"] < 1e-15
    assert ns["sigmoid_error"] < 1e-15
    assert abs(ns["nll"] - ns["via_logsumexp"]) < 1e-12
    # the derived gradient and Hessian against central differences (float64, h = 1e-5)
    assert ns["fd_grad_error"] < 1e-8
    assert ns["fd_hess_error"] < 1e-8
    # softmax_sk's block functions against the formulas and against finite differences
    assert ns["core_grad_error"] < 1e-12
    assert ns["core_hessp_error"] < 1e-12
    assert ns["core_hessp_fd_error"] < 1e-8
    # the Hessian is positive semi-definite with d + 1 flat directions
    assert ns["eigenvalues"].min() > -1e-12 and ns["flat_directions"] == ns["d"] + 1
    # log-sum-exp: naive overflows to NaN / inf, the shifted version is exact
    assert np.isnan(ns["naive_p"]).all() and np.isinf(ns["naive_lse"])
    big = ns["big"]
    assert ns["stable_lse"] == pytest.approx(1000 + np.log1p(np.exp(-1) + np.exp(-2)), rel=1e-15)
    np.testing.assert_allclose(ns["stable_p"], np.exp(big - 1000) / np.exp(big - 1000).sum())


def _fitting(ns):
    f_star = ns["f_star"]
    # every method reaches the same minimum; softmax-sk's coefficients give it in our objective
    assert abs(ns["final_gap_softmax_sk"]) < 1e-9
    assert ns["lbfgs_result"].fun - f_star < 1e-9
    assert ns["sk_lbfgs_trace"][-1, 1] - f_star < 1e-9
    assert ns["sk_newton_trace"][-1, 2] <= 1e-10  # softmax-sk's stopping rule, tol=1e-10
    # the line search beats the fixed step 1/L, and curvature beats both
    assert ns["gd_search"][-1, 1] < ns["gd_fixed"][-1, 1]
    assert ns["newton_result"].nit < 30 < ns["lbfgs_result"].nit
    # preconditioning makes the iterates independent of feature scales (C=inf)
    assert ns["scale_gap"] < 1e-10
    curves = ns["curves"]
    plain_scaled, f_min = curves["scaled", "plain"]
    pre_scaled, _ = curves["scaled", "preconditioned"]
    assert pre_scaled[-1, 1] - f_min < 1e-3 * (plain_scaled[-1, 1] - f_min)
    (ours_good, theirs_good), (ours_bad, theirs_bad) = (
        ns["iterations"]["standardised"],
        ns["iterations"]["scaled"],
    )
    assert ours_bad <= 2 * ours_good
    assert theirs_bad >= 5 * theirs_good


def _decision_boundaries(ns):
    assert ns["separation_violations"] == 0
    assert ns["boundary_gap"] < 1e-10
    assert ns["redundancy_error"] < 1e-12
    assert ns["weight_sum"] < 1e-8
    assert ns["reference_error"] < 1e-12
    assert ns["binary_error"] < 1e-12
    assert ns["binary"].coef_.shape == (1, 2)
    norms = ns["norms"]
    assert norms[0.001] < norms[0.05] < norms[100.0]


def _digits(ns):
    from sklearn.linear_model import LogisticRegression

    assert ns["accuracy"] > 0.95
    assert ns["cm"].sum() == len(ns["y_test"]) and np.trace(ns["cm"]) == round(
        ns["accuracy"] * len(ns["y_test"])
    )
    assert ns["clf32"].coef_.dtype == np.float32 and ns["proba32"].dtype == np.float32
    assert ns["float32_proba_gap"] < 1e-2 and ns["float32_agreement"] > 0.99
    assert ns["sklearn_agreement"] > 0.99
    # same objective: the fits reach the same optimum (relative 1e-6)
    fitted, objective = ns["fitted"], ns["objective"]
    X_train, y_train = ns["X_train"], ns["y_train"]
    ref = LogisticRegression(C=1.0, solver="newton-cg", tol=1e-10, max_iter=1000)
    ref.fit(X_train, y_train)
    best = objective(ref, X_train, y_train)
    for model in fitted.values():
        assert objective(model, X_train, y_train) == pytest.approx(best, rel=1e-6)
    assert all(len(t) == 5 for t in ns["times"].values())


def _calibration(ns):
    # by hand against CalibratedClassifierCV(method="temperature")
    assert ns["beta_gap"] < 1e-6
    assert ns["temperature_proba_gap"] < 1e-6
    # the model was overconfident: T > 1, and the temperature fixes it on unseen data
    assert ns["beta_sklearn"] < 1
    assert ns["ece_after"] < ns["ece_before"]
    assert ns["accuracy_unchanged"] and ns["same_top_class"]
    top_k = ns["top_k"]
    assert all(a <= b for a, b in zip(top_k, top_k[1:], strict=False)) and top_k[-1] > 0.99


def _streaming(ns):
    acc = ns["acc"]
    assert abs(acc["stream"] - acc["batch"]) < 0.01
    assert abs(acc["fit(solver='sgd')"] - acc["batch"]) < 0.005
    assert ns["identical"]  # a pickled stream resumes bit for bit
    assert ns["acc_sampled"] > ns["acc_full"] - 0.01
    assert ns["t_full"] > 2 * ns["t_sampled"]


def _dask(ns):
    # the in-memory model, lazily predicted, a grid search on the cluster, a closed cluster
    assert ns["diff"] < 1e-6
    assert type(ns["proba"]).__module__.startswith("dask")
    assert ns["search"].best_params_["C"] in (0.01, 0.1, 1.0)
    assert ns["client"].status == "closed"


# notebook stem: (check of its claims, modules it needs, figures it draws at least)
CLAIMS = {
    "statistics": (_statistics, ("statsmodels", "pandas"), 0),
    "targets_and_offsets": (_targets_and_offsets, ("statsmodels",), 0),
    "01_softmax_from_scratch": (_from_scratch, (), 4),
    "02_fitting": (_fitting, (), 2),
    "03_decision_boundaries": (_decision_boundaries, (), 2),
    "04_digits": (_digits, (), 5),
    "05_calibration": (_calibration, (), 5),
    "streaming": (_streaming, (), 0),
    "dask": (_dask, ("distributed", "dask.dataframe"), 0),
}


def test_the_five_teaching_notebooks_are_there():
    names = {path.stem for path in NOTEBOOKS}
    assert set(CLAIMS) <= names, f"missing: {set(CLAIMS) - names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_fast_without_outputs_and_shows_its_claims(path):
    check, requires, min_figures = CLAIMS.get(path.stem, (None, (), 0))
    for module in requires:
        pytest.importorskip(module)
    plt = pytest.importorskip("matplotlib.pyplot")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    plt.switch_backend("Agg")
    import scipy.optimize  # noqa: F401  (load every BLAS before limiting their threads)
    import sklearn.linear_model  # noqa: F401

    figures = []

    def close_figures(i):
        figures.append(len(plt.get_fignums()))
        plt.close("all")

    with threadpoolctl.threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # dependencies' own deprecations
        start = time.perf_counter()
        namespace = run_notebook(path, after_cell=close_figures)
        elapsed = time.perf_counter() - start
        if check is not None:
            check(namespace)
    assert elapsed < TIME_LIMIT_S, f"{path.name} took {elapsed:.0f} s"
    assert sum(figures) >= min_figures, (
        f"{path.name} draws {sum(figures)} figures, not {min_figures}"
    )
