"""The grouped lasso's regularisation path, from the ``C`` where the first feature enters.

At ``W = 0`` with the intercept fitted, the gradient of ``sum_i s_i CE_i`` with
respect to feature ``j``'s coefficients is ``G_j = sum_i s_i x_ij (p - y_i)``,
``p`` the weighted class frequencies (``1 / K`` without an intercept; the one
free class of two classes). ``W = 0`` minimises the objective exactly when
``C * ||G_j||_2 <= l1_ratio`` for every ``j``, so the first feature enters at
``C_min = l1_ratio / max_j ||G_j||_2``, the one with the largest ``||G_j||``
(glmnet's ``lambda_max``, in scikit-learn's ``C``).
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_X_y

from ._estimator import SoftmaxRegressionClassifier, _check_sample_weight


def grouped_lasso_path(X, y, *, Cs=10, C_ratio=1e3, l1_ratio=1.0, sample_weight=None, **params):
    """Fit the grouped lasso (``l1_type="grouped"``) along increasing ``C``.

    Each fit starts from the previous one (warm start), so the path costs
    little more than its last fit.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training data.
    y : array-like of shape (n_samples,)
        Class labels.
    Cs : int or array-like, default=10
        An int ``n``: ``n`` values from ``C_min``, where the first feature
        enters (every coefficient is 0 there, to rounding), geometrically up to
        ``C_min * C_ratio``. An array: these values, fitted in increasing order.
    C_ratio : float, default=1e3
        The last ``C`` over ``C_min`` when ``Cs`` is an int.
    l1_ratio : float, default=1.0
        The weight of the grouped term, in (0, 1].
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights, as in ``fit``.
    **params
        Other parameters of ``SoftmaxRegressionClassifier`` (``class_weight``,
        ``fit_intercept``, ``tol``, ``max_iter``, ...).

    Returns
    -------
    Cs : ndarray of shape (n_Cs,)
        The values of ``C``, increasing.
    coefs : ndarray of shape (n_Cs, n_coef_rows, n_features)
        ``coef_`` at each ``C`` (``n_coef_rows`` is 1 for two classes).
    intercepts : ndarray of shape (n_Cs, n_coef_rows)
        ``intercept_`` at each ``C``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from softmax_sk import grouped_lasso_path
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> Cs, coefs, _ = grouped_lasso_path(X, y, Cs=6, C_ratio=30)
    >>> (coefs != 0).any(axis=1).sum(axis=1)  # features in the model at each C
    array([0, 2, 3, 3, 3, 3])
    """
    if not 0 < l1_ratio <= 1:
        raise ValueError(f"l1_ratio must be in (0, 1] for a grouped lasso path, got {l1_ratio}.")
    if params.get("label_smoothing", 0.0):
        raise ValueError(
            "grouped_lasso_path fits class labels: label_smoothing is not supported here (the "
            "closed form of the first C assumes one-hot targets). Fit smoothed models with "
            "SoftmaxRegressionClassifier(l1_type='grouped', label_smoothing=...) directly."
        )
    model = SoftmaxRegressionClassifier(l1_type="grouped", l1_ratio=l1_ratio, **params)
    X, y = check_X_y(X, y, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32])
    if isinstance(Cs, numbers.Integral):
        Cs = C_min(X, y, l1_ratio, sample_weight, model) * np.geomspace(1.0, C_ratio, Cs)
    Cs = np.sort(np.asarray(Cs, dtype=np.float64))
    model.set_params(warm_start=True)
    coefs, intercepts = [], []
    for C in Cs:
        model.set_params(C=C).fit(X, y, sample_weight)
        coefs.append(model.coef_.copy())
        intercepts.append(model.intercept_.copy())
    return Cs, np.array(coefs), np.array(intercepts)


def C_min(X, y, l1_ratio, sample_weight, model):
    """``l1_ratio / max_j ||G_j||`` (see the module docstring)."""
    classes, y_idx = np.unique(y, return_inverse=True)
    sw = _check_sample_weight(sample_weight, X.shape[0])
    totals = np.bincount(y_idx, weights=sw, minlength=classes.size)
    s = sw * model._class_weights(classes, totals)[y_idx]
    Y = np.zeros((X.shape[0], classes.size))
    Y[np.arange(X.shape[0]), y_idx] = 1.0
    if model.fit_intercept:
        p = (s @ Y) / s.sum()
    else:
        p = np.full(classes.size, 1.0 / classes.size)
    residual = s[:, None] * (p - Y)
    if classes.size == 2:  # one free class, classes_[1] against classes_[0]
        residual = residual[:, 1:]
    G = np.asarray(X.T @ residual) if sp.issparse(X) else X.T.astype(np.float64) @ residual
    top = np.linalg.norm(G, axis=1).max(initial=0.0)
    if not top > 0:
        raise ValueError(
            "Every feature's gradient at W = 0 is zero (constant or empty features), so no "
            "feature ever enters the model: there is no path to compute."
        )
    return l1_ratio / top
