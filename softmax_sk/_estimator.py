"""The scikit-learn estimator: validation, classes and weights, tags, public methods.

The estimator turns user input into a data term (``_loss``), a penalty
(``_penalty``) and a solver name (``_solvers``), runs the solver and stores
the result. It never computes a gradient itself.
"""

import numbers
import os
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._loss import SoftmaxLoss, default_threads
from ._objective import Objective
from ._penalty import ElasticNet
from ._softmax import log_softmax, softmax
from ._solvers import SOLVERS, choose_solver

_SPARSE_FORMATS = ["csr", "csc"]
_DTYPES = [np.float64, np.float32]


class SoftmaxRegressionClassifier(ClassifierMixin, BaseEstimator):
    """Softmax (multinomial logistic) regression.

    Minimises scikit-learn's ``LogisticRegression`` objective,

        C * sum_i s_i * CE_i + (1 - l1_ratio) / 2 * ||W||_F^2 + l1_ratio * ||W||_1,

    with ``CE_i`` the cross-entropy of sample ``i``, ``s_i`` its sample weight
    times its class weight, and the intercept not penalised, so that fitted
    models can be compared with ``LogisticRegression`` directly. With two
    classes the model is fitted as softmax with a reference class, which is
    exactly (binary) logistic regression, and exposed as scikit-learn does.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength; must be positive. ``np.inf`` fits
        without a penalty.
    l1_ratio : float, default=0.0
        Elastic-net mixing in [0, 1]: 0 is the L2 penalty, 1 the L1 penalty.
        Ignored when ``C=np.inf``.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept per class.
    class_weight : dict or 'balanced', default=None
        Weights per class, multiplied into the sample weights. ``'balanced'``
        uses ``sum(sample_weight) / (n_classes * class_total_weight)``.
    solver : {'auto', 'lbfgs', 'newton-cg', 'owlqn'}, default='auto'
        ``'lbfgs'`` (L-BFGS, L2 or no penalty), ``'newton-cg'`` (truncated
        Newton with Hessian-vector products), ``'owlqn'`` (orthant-wise
        L-BFGS; it and ``'newton-cg'`` handle ``l1_ratio > 0``). ``'auto'``
        picks ``'newton-cg'`` for at most 1000 coefficients and for sparse X
        without an L1 term, else ``'owlqn'`` with an L1 term and ``'lbfgs'``
        without.
    max_iter : int, default=100
        Maximum number of solver iterations.
    tol : float, default=1e-4
        The fit stops when the max-norm of the (minimum-norm sub)gradient of
        the objective divided by ``C * sum(s)`` is at most ``tol``.
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_`` when their shapes
        fit the new data.
    verbose : int, default=0
        Print one line per solver iteration when positive.
    random_state : int, RandomState instance or None, default=None
        Accepted for compatibility with ``LogisticRegression``; every solver
        here is deterministic, so it has no effect.
    n_jobs : int or None, default=None
        Threads that evaluate blocks of rows concurrently during ``fit`` (BLAS
        then runs single-threaded inside each). ``-1``: one per CPU core;
        ``1``: one thread, BLAS left with its threads; ``None``: one per core
        for sparse X or more than 32 classes, where that was measured to pay,
        else one. Data that fits in one block (256 KiB of logits) always uses
        one thread. Results do not depend on it beyond rounding.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes (the positive class ``classes_[1]``).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``).
    n_iter_ : ndarray of shape (1,)
        Number of solver iterations.
    solver_ : str
        The solver that ran (what ``'auto'`` resolved to).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The model this one reproduces.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softmax_sk import SoftmaxRegressionClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegressionClassifier(max_iter=200).fit(X, y)
    >>> clf.predict(X[:2])
    array([0, 0])
    >>> clf.predict_proba(X[:1]).round(3)
    array([[0.982, 0.018, 0.   ]])
    >>> round(clf.score(X, y), 3)
    0.973
    """

    def __init__(
        self,
        C=1.0,
        *,
        l1_ratio=0.0,
        fit_intercept=True,
        class_weight=None,
        solver="auto",
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        random_state=None,
        n_jobs=None,
    ):
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting -----------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the model to training data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data is fitted in float32.
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct ones).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights with a positive sum.

        Returns
        -------
        self : SoftmaxRegressionClassifier
            The fitted estimator.
        """
        self._check_params()
        X, y = validate_data(
            self, X, y, accept_sparse=_SPARSE_FORMATS, dtype=_DTYPES, multi_output=True
        )
        _reject_multioutput(y)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                "SoftmaxRegressionClassifier needs samples of at least 2 classes, "
                f"but y contains only one class: {classes[0].item()!r}. A classifier "
                "needs examples of every class it should tell apart."
            )
        weights = _check_sample_weight(sample_weight, X.shape[0])
        weights = weights * self._class_weights(classes, y_idx, weights)[y_idx]
        if not weights.sum() > 0:
            raise ValueError(
                "The sample weights times the class weights sum to zero; at "
                "least one sample needs a positive weight."
            )

        n_classes, n_features = classes.size, X.shape[1]
        loss = SoftmaxLoss(
            X,
            y_idx,
            n_classes,
            weights,
            fit_intercept=bool(self.fit_intercept),
            reference=n_classes == 2,
            n_threads=self._n_threads(X, n_classes),
        )
        penalized = np.zeros((loss.n_dof, loss.k), dtype=bool)
        penalized[:n_features] = True
        penalty = ElasticNet.from_C(self.C, self.l1_ratio, weights.sum(), penalized.ravel())
        solver = self._resolve_solver(loss.size, penalty.has_l1, sp.issparse(X))
        obj = Objective(loss, penalty)

        x0 = self._warm_start_coefs(classes, loss)
        function, _ = SOLVERS[solver]
        with loss.threading():
            result = function(
                obj, x0, tol=float(self.tol), max_iter=int(self.max_iter), verbose=self.verbose
            )
        self._n_passes = obj.n_passes
        if not result.converged:
            self._warn_not_converged(solver, result, X, y_idx, loss)

        coefs = result.x.reshape(loss.n_dof, loss.k)
        self.classes_ = classes
        self.coef_ = np.ascontiguousarray(coefs[:n_features].T, dtype=X.dtype)
        self.intercept_ = (
            coefs[n_features].astype(X.dtype)
            if self.fit_intercept
            else np.zeros(loss.k, dtype=X.dtype)
        )
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.solver_ = solver
        return self

    def _check_params(self):
        _check_real(self.C, "C", low=0.0, low_open=True, allow_inf=True)
        _check_real(self.l1_ratio, "l1_ratio", low=0.0, high=1.0)
        _check_real(self.tol, "tol", low=0.0)
        for name in ("max_iter", "verbose"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, got {value!r}.")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}.")
        for name in ("fit_intercept", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        names = ["auto", *SOLVERS]
        if self.solver not in names:
            raise ValueError(f"solver must be one of {names}, got {self.solver!r}.")
        cw = self.class_weight
        if not (cw is None or isinstance(cw, dict) or (isinstance(cw, str) and cw == "balanced")):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {cw!r}."
            )
        check_random_state(self.random_state)
        if self.n_jobs is not None and (
            not isinstance(self.n_jobs, numbers.Integral)
            or isinstance(self.n_jobs, bool)
            or not (self.n_jobs >= 1 or self.n_jobs == -1)
        ):
            raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {self.n_jobs!r}.")

    def _n_threads(self, X, n_classes):
        if self.n_jobs is None:
            return default_threads(X, n_classes)
        return (os.cpu_count() or 1) if self.n_jobs == -1 else self.n_jobs

    def _resolve_solver(self, n_coefs, has_l1, sparse):
        if self.solver == "auto":
            return choose_solver(n_coefs, has_l1, sparse)
        if has_l1 and not SOLVERS[self.solver][1]:
            l1_solvers = [name for name, (_, l1) in SOLVERS.items() if l1]
            raise ValueError(
                f"solver={self.solver!r} supports only the L2 penalty (l1_ratio=0) "
                f"or no penalty (C=np.inf), got l1_ratio={self.l1_ratio}. Use "
                f"solver='auto' or one of {l1_solvers}."
            )
        return self.solver

    def _class_weights(self, classes, y_idx, sample_weight):
        """Weight of each class (n_classes,), from ``class_weight``."""
        cw = self.class_weight
        if cw is None:
            return np.ones(classes.size)
        if isinstance(cw, str):  # 'balanced'
            totals = np.bincount(y_idx, weights=sample_weight, minlength=classes.size)
            out = np.zeros(classes.size)  # a class with no weight keeps none
            np.divide(totals.sum(), classes.size * totals, out=out, where=totals > 0)
            return out
        unknown = [key for key in cw if key not in set(classes.tolist())]
        if unknown:
            raise ValueError(
                f"class_weight has keys {unknown} that are not classes in y; "
                f"the classes are {classes.tolist()}."
            )
        out = np.array([cw.get(c, 1.0) for c in classes.tolist()], dtype=np.float64)
        if not (np.all(np.isfinite(out)) and np.all(out >= 0)):
            raise ValueError(f"class_weight values must be finite and >= 0, got {cw}.")
        return out

    def _warm_start_coefs(self, classes, loss):
        x0 = np.zeros(loss.size)
        if not (self.warm_start and hasattr(self, "coef_")):
            return x0
        if not np.array_equal(getattr(self, "classes_", None), classes) or self.coef_.shape != (
            loss.k,
            loss.n_features,
        ):
            return x0
        coefs = x0.reshape(loss.n_dof, loss.k)
        coefs[: loss.n_features] = self.coef_.T
        if loss.fit_intercept:
            coefs[loss.n_features] = self.intercept_
        return x0

    def _warn_not_converged(self, solver, result, X, y_idx, loss):
        advice = []
        if result.n_iter >= self.max_iter:
            advice.append(f"increase max_iter (now {self.max_iter})")
        else:
            advice.append(
                f"the objective stopped decreasing before tol was reached ({result.message}); "
                f"tol={self.tol:g} may be tighter than {X.dtype} arithmetic allows, "
                "so use a looser tol"
            )
        scale = _feature_scale(X)
        if scale > 100 or (0 < scale < 1e-2):
            advice.append(
                f"scale the features (e.g. with StandardScaler): their largest "
                f"magnitude is {scale:.3g}"
            )
        if np.isinf(self.C):
            weights, intercept = loss.split(result.x)
            pred = np.asarray(X @ weights.astype(X.dtype))
            if intercept is not None:
                pred = pred + intercept
            if loss.reference:
                pred = np.column_stack([np.zeros(pred.shape[0]), pred])
            if np.array_equal(pred.argmax(axis=1), y_idx):
                advice.append(
                    "use a finite C: the training data is separable, so with "
                    "C=np.inf the coefficients grow without bound"
                )
        warnings.warn(
            f"{solver} did not converge: the max-norm of the gradient is "
            f"{result.grad_norm:.3g} after {result.n_iter} iterations, and tol is "
            f"{self.tol:g}. To converge: " + "; ".join(advice) + ".",
            ConvergenceWarning,
            stacklevel=3,
        )

    # -- prediction --------------------------------------------------------------
    def _logits(self, X):
        """Logits of all classes (n_samples, n_classes) for validated new data."""
        X = validate_data(self, X, accept_sparse=_SPARSE_FORMATS, dtype=_DTYPES, reset=False)
        z = np.asarray(X @ self.coef_.T) + self.intercept_
        if self.classes_.size == 2:
            z = np.column_stack([np.zeros_like(z), z])
        return z

    def decision_function(self, X):
        """Logits: shape (n_samples,) for two classes (positive class), else (n_samples, n_classes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``X @ coef_.T + intercept_``.
        """
        check_is_fitted(self)
        z = self._logits(X)
        return z[:, 1] if self.classes_.size == 2 else z

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self._logits(X), axis=1)]

    def predict_proba(self, X):
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Finite, rows summing to 1, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return softmax(self._logits(X), axis=1)

    def predict_log_proba(self, X):
        """Log class probabilities, a log-softmax (finite where ``predict_proba`` underflows).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return log_softmax(self._logits(X), axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = False
        # Without an intercept every decision boundary passes through the origin,
        # so off-centre data (scikit-learn's blobs) cannot be scored well.
        tags.classifier_tags.poor_score = not self.fit_intercept
        return tags


def _reject_multioutput(y):
    """Softmax classes are mutually exclusive: say so for multilabel / multioutput y."""
    if y.ndim == 2 and y.shape[1] > 1:
        kind = type_of_target(y, input_name="y")
        raise ValueError(
            f"y is {kind} with shape {y.shape}, but softmax regression assumes "
            "each sample has exactly one of mutually exclusive classes and needs a "
            "1-D y of labels. For multilabel targets wrap a binary classifier in "
            "sklearn.multiclass.OneVsRestClassifier, e.g. "
            "OneVsRestClassifier(SoftmaxRegressionClassifier())."
        )


def _check_sample_weight(sample_weight, n_samples):
    """Validated float64 sample weights of shape (n_samples,)."""
    if sample_weight is None:
        return np.ones(n_samples)
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight)
    sw = np.asarray(sample_weight)
    if sw.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric, got dtype {sw.dtype}.")
    if sw.shape != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {sw.shape}, but X has {n_samples} samples: "
            f"pass a 1-D array of shape ({n_samples},)."
        )
    sw = sw.astype(np.float64)
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or infinity; weights must be finite.")
    if np.any(sw < 0):
        raise ValueError("sample_weight contains negative values; weights must be >= 0.")
    return sw


def _check_real(value, name, low, high=None, low_open=False, allow_inf=False):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    bad = (
        np.isnan(value)
        or (np.isinf(value) and not allow_inf)
        or (value <= low if low_open else value < low)
        or (high is not None and value > high)
    )
    if bad:
        interval = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}"
        interval += "]" if high is not None or allow_inf else ")"
        raise ValueError(f"{name} must be in {interval}, got {value!r}.")


def _feature_scale(X):
    """Largest absolute feature value (0 for empty data), without a copy of X."""
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return 0.0
    return float(max(values.max(), -values.min()))
