"""Unpenalised fits against statsmodels' MNLogit, through parameterisation-free quantities."""

import numpy as np
import pytest
from conftest import make_problem

from softmax_sk import SoftmaxRegressionClassifier

sm = pytest.importorskip("statsmodels.api")


@pytest.mark.parametrize("n_classes", [2, 4])
def test_unpenalised_fit_matches_mnlogit(n_classes):
    # No redundant feature: without a penalty its coefficient would not be identified.
    X, y = make_problem(n_classes, n_samples=600, n_redundant=0)
    res = sm.MNLogit(y, sm.add_constant(X)).fit(method="newton", disp=False, maxiter=100, tol=1e-14)
    clf = SoftmaxRegressionClassifier(C=np.inf, tol=1e-10).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, res.predict(sm.add_constant(X)), atol=1e-7)
    loglike = np.sum(np.log(proba[np.arange(y.size), y]))
    assert loglike == pytest.approx(res.llf, rel=1e-10)
    # MNLogit's parameters are the differences to class 0 (its reference class).
    W = np.column_stack([clf.intercept_, clf.coef_]) if n_classes > 2 else None
    if W is not None:
        np.testing.assert_allclose((W[1:] - W[0]).T, res.params, rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_allclose(
            np.r_[clf.intercept_, clf.coef_[0]], res.params[:, 0], rtol=1e-5, atol=1e-7
        )
