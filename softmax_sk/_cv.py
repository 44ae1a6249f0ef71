"""Cross-validated choice of ``C`` (and ``l1_ratio``): ``SoftmaxRegressionCV``.

Each fold fits the whole regularisation path with one warm-started
``SoftmaxRegressionClassifier``, strongest penalty (smallest ``C``) first, so
every fit after the first starts next to its optimum. The (fold, l1_ratio)
paths run in parallel through joblib. Attributes follow scikit-learn 1.9's
``LogisticRegressionCV`` with its (default) legacy attributes.
"""

import inspect
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.metrics import get_scorer, get_scorer_names, make_scorer
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._estimator import (
    _SPARSE_FORMATS,
    SoftmaxRegressionClassifier,
    _check_sample_weight,
    _reject_multioutput,
)
from ._solvers import SOLVERS
from ._xp import _DTYPES


class SoftmaxRegressionCV(ClassifierMixin, BaseEstimator):
    """Softmax regression with ``C`` (and ``l1_ratio``) chosen by cross-validation.

    The API of scikit-learn's ``LogisticRegressionCV`` where it applies, on
    ``SoftmaxRegressionClassifier``'s model and parameters. Each fold fits the
    whole grid of ``Cs`` as one path: one classifier, warm-started from the
    previous ``C``, strongest penalty (smallest ``C``) first. The paths of the
    folds (and of each ``l1_ratio``) run in parallel through joblib. At a tight
    ``tol`` the scores, the chosen ``C`` and the refit model are those of
    ``GridSearchCV(SoftmaxRegressionClassifier(), {"C": Cs})`` on the same folds
    and scoring. At ``tol=1e-4`` a fit that converges ends within about 1e-4
    (relative) of its optimal objective, but where the penalty is weak the
    objective is flat and the test log-loss can still differ from the
    optimum's by 1e-2 (C >= 100 on ``benchmarks/results/cv.md``'s problems;
    1e-5 at the C chosen there), as a cold fit's can: tighten ``tol`` when the
    scores at large ``C`` matter.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The values of ``C`` to try (positive; ``np.inf`` for no penalty). An int
        ``n`` means ``np.logspace(-4, 4, n)``, as in ``LogisticRegressionCV``.
    l1_ratios : array-like of float or None, default=None
        Elastic-net mixings in [0, 1] to try with every ``C``. ``None``: the L2
        penalty only, and the attributes have no ``l1_ratios`` axis (as
        ``LogisticRegressionCV(l1_ratios=None)``).
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept per class.
    cv : int, cross-validation generator or iterable, default=None
        Folds, through ``sklearn.model_selection.check_cv``: ``None`` is 5-fold,
        an int that many folds, stratified. Group splitters need their groups:
        pass ``cv=list(GroupKFold().split(X, y, groups))``.
    scoring : str, callable or None, default='neg_log_loss'
        Scorer name (``sklearn.metrics.get_scorer_names()``) or callable
        ``scorer(estimator, X, y)``; ``None`` is accuracy. The default is
        the one ``LogisticRegressionCV`` moves to in scikit-learn 1.11. Also
        used by ``score``.
    solver : {'auto', 'lbfgs', 'newton-cg', 'owlqn'}, default='auto'
        As in ``SoftmaxRegressionClassifier``.
    tol : float, default=1e-4
        Stopping tolerance of every fit, as in ``SoftmaxRegressionClassifier``.
    max_iter : int, default=100
        Maximum solver iterations of every fit.
    class_weight : dict or 'balanced', default=None
        Weights per class. ``'balanced'`` is computed once on the whole of
        ``y`` (and ``sample_weight``) and used in every fold, as
        ``LogisticRegressionCV`` does (``GridSearchCV`` computes it per fold).
    n_jobs : int or None, default=None
        Folds (times ``l1_ratios``) fitted in parallel by joblib; ``None`` is one
        unless in a ``joblib.parallel_backend`` context, ``-1`` all CPUs. With
        more than one, each fit runs on one thread (no oversubscription); with
        one, each fit uses the classifier's default threads.
    verbose : int, default=0
        joblib's progress when positive; the solvers print their iterations
        when above 1.
    refit : bool, default=True
        ``True``: the best ``(C, l1_ratio)`` by the scores summed over the folds,
        refitted on all the data from zero, as ``GridSearchCV`` refits (not
        from the folds' mean coefficients as ``LogisticRegressionCV`` does, which
        would carry where each fold's fits stopped into the final model).
        ``False``: no refit; the coefficients are the mean over folds of each
        fold's coefficients at its own best point, and ``C_`` (``l1_ratio_``)
        the mean of those points' values.
    random_state : int, RandomState instance or None, default=None
        Accepted for compatibility with ``LogisticRegressionCV``; every solver
        here is deterministic, so it has no effect (the folds come from ``cv``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights of the final model; one row for two classes.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts of the final model (zeros when ``fit_intercept=False``).
    Cs_ : ndarray of shape (n_Cs,)
        The grid of ``C``, in the order given.
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
        The ``l1_ratios`` tried (``[0.0]`` for ``l1_ratios=None``).
    C_ : ndarray of shape (1,) or (n_classes,)
        The chosen ``C``, repeated per class for more than two classes, as
        scikit-learn's legacy attribute.
    l1_ratio_ : ndarray of shape (1,) or (n_classes,)
        The chosen ``l1_ratio``, shaped as ``C_``.
    scores_ : dict
        Class label -> ndarray of shape (n_folds, n_Cs) or (n_folds, n_Cs,
        n_l1_ratios): the score of every fold at every point, the same array
        for every class; with two classes one key, ``classes_[1]``.
    coefs_paths_ : dict
        Class label -> ndarray of shape (n_folds, n_Cs, n_dof) or (n_folds,
        n_Cs, n_l1_ratios, n_dof): that class's coefficients in every fold at
        every point, the intercept last (``n_dof = n_features + fit_intercept``);
        with two classes one key, ``classes_[1]``, the row of ``coef_``.
    n_iter_ : ndarray of shape (1, n_folds, n_Cs) or (1, n_folds, n_Cs, n_l1_ratios)
        Solver iterations of every fit of the paths.
    solver_ : str
        The solver that ran (what ``'auto'`` resolved to).
    convergence_ : dict
        How the refit stopped (see ``SoftmaxRegressionClassifier``); only with
        ``refit=True``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Feature names, when X has string column names.

    See Also
    --------
    SoftmaxRegressionClassifier : The model, for one ``C``.
    sklearn.linear_model.LogisticRegressionCV : The estimator this one follows.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softmax_sk import SoftmaxRegressionCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegressionCV(Cs=5, cv=3, max_iter=200).fit(X, y)
    >>> clf.Cs_
    array([1.e-04, 1.e-02, 1.e+00, 1.e+02, 1.e+04])
    >>> clf.C_
    array([100., 100., 100.])
    >>> clf.scores_[0].shape  # (n_folds, n_Cs)
    (3, 5)
    >>> clf.predict(X[:2])
    array([0, 0])
    """

    # The HTML repr links to this class's API page, as the classifier's does.
    _doc_link_module = SoftmaxRegressionClassifier._doc_link_module
    _doc_link_template = SoftmaxRegressionClassifier._doc_link_template

    _parameter_constraints = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None],
        "fit_intercept": ["boolean"],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "solver": [StrOptions({"auto", *SOLVERS})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "n_jobs": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
        ],
        "verbose": ["verbose"],
        "refit": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios=None,
        fit_intercept=True,
        cv=None,
        scoring="neg_log_loss",
        solver="auto",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        random_state=None,
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Cross-validate the grid, then fit the final model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data is fitted in float32.
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct ones).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, used in the fits and passed to the scorer on
            the test folds (as ``LogisticRegressionCV`` does).

        Returns
        -------
        self : SoftmaxRegressionCV
            The fitted estimator.
        """
        before = self.__dict__.copy()  # a fit that raises leaves the estimator as it was
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, y, sample_weight):
        X, y = validate_data(
            self, X, y, accept_sparse=_SPARSE_FORMATS, dtype=_DTYPES, multi_output=True
        )
        _reject_multioutput(y)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                "SoftmaxRegressionCV needs samples of at least 2 classes, but y "
                f"contains only one class: {_label(classes[0])!r}. A classifier needs "
                "examples of every class it should tell apart."
            )
        weighted = sample_weight is not None
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        Cs = _grid_of_Cs(self.Cs)
        l1_ratios = _grid_of_l1_ratios(self.l1_ratios)
        if self.solver != "auto" and not SOLVERS[self.solver].handles_l1 and l1_ratios.any():
            raise ValueError(
                f"solver={self.solver!r} supports only l1_ratio=0, but l1_ratios "
                f"contains {l1_ratios[l1_ratios > 0][0]}. Use solver='auto', "
                "'newton-cg' or 'owlqn'."
            )
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y))
        _check_folds(folds, y_idx, classes)
        scorer = _knowing_classes(
            get_scorer("accuracy" if self.scoring is None else self.scoring), classes
        )

        parallel = effective_n_jobs(self.n_jobs) > 1
        base = SoftmaxRegressionClassifier(
            fit_intercept=self.fit_intercept,
            class_weight=self._class_weight(classes, y_idx, sample_weight),
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=max(0, int(self.verbose) - 1),
            random_state=self.random_state,
            n_jobs=1 if parallel else None,
        )
        order = np.argsort(Cs, kind="stable")  # strongest penalty first
        paths = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fold_path)(
                base, X, y, sample_weight, weighted, train, test, Cs[order], l1, scorer
            )
            for train, test in folds
            for l1 in l1_ratios
        )

        n_folds, n_l1 = len(folds), l1_ratios.size
        back = np.argsort(order)  # path order -> the order of Cs
        # coefs: (n_folds, n_Cs, n_l1, n_rows, n_dof); scores, n_iter: (n_folds, n_Cs, n_l1)
        coefs = np.stack([p[0] for p in paths]).reshape(n_folds, n_l1, *paths[0][0].shape)
        coefs = coefs[:, :, back].swapaxes(1, 2)
        scores = np.reshape([p[1] for p in paths], (n_folds, n_l1, Cs.size))[:, :, back]
        scores = scores.swapaxes(1, 2)
        n_iter = np.reshape([p[2] for p in paths], (n_folds, n_l1, Cs.size))[:, :, back]
        n_iter = n_iter.swapaxes(1, 2)

        n_features = X.shape[1]
        if self.refit:
            best = np.unravel_index(np.argmax(scores.sum(axis=0)), scores.shape[1:])
            C, l1_ratio = Cs[best[0]], l1_ratios[best[1]]
            # From zero, as GridSearchCV refits: a start at the folds' mean coefficients
            # would carry where each fold's fits happened to stop into the final model.
            final = base.set_params(C=C, l1_ratio=l1_ratio, n_jobs=None)
            final.fit(X, y, sample_weight=sample_weight if weighted else None)
            coef, intercept = final.coef_, final.intercept_
            convergence = final.convergence_
            solver = final.solver_
        else:
            flat = scores.reshape(n_folds, -1).argmax(axis=1)
            i_C, i_l1 = np.unravel_index(flat, scores.shape[1:])
            w = coefs[np.arange(n_folds), i_C, i_l1].mean(axis=0)
            coef = w[:, :n_features]
            intercept = w[:, n_features] if self.fit_intercept else np.zeros(w.shape[0])
            C, l1_ratio = Cs[i_C].mean(), l1_ratios[i_l1].mean()
            convergence, solver = None, paths[0][3]

        keys = classes[1:] if classes.size == 2 else classes
        if self.l1_ratios is None:  # no l1_ratios axis, as scikit-learn
            coefs, scores, n_iter = coefs[:, :, 0], scores[:, :, 0], n_iter[:, :, 0]
        self.classes_ = classes
        self.coef_ = coef.astype(X.dtype, copy=False)
        self.intercept_ = intercept.astype(X.dtype, copy=False)
        self.Cs_ = Cs
        self.l1_ratios_ = l1_ratios
        self.C_ = np.full(keys.size, C, dtype=np.float64)
        self.l1_ratio_ = np.full(keys.size, l1_ratio, dtype=np.float64)
        self.scores_ = {key: scores.copy() for key in keys.tolist()}
        self.coefs_paths_ = {key: coefs[..., k, :] for k, key in enumerate(keys.tolist())}
        self.n_iter_ = n_iter[None].astype(np.int32)
        self.solver_ = solver
        if convergence is None:
            self.__dict__.pop("convergence_", None)  # from an earlier fit with refit=True
        else:
            self.convergence_ = convergence
        return self

    def _class_weight(self, classes, y_idx, sample_weight):
        """``class_weight`` for the folds: ``'balanced'`` computed on all of ``y``."""
        if not isinstance(self.class_weight, str):
            return self.class_weight
        totals = np.bincount(y_idx, weights=sample_weight, minlength=classes.size)
        weights = np.zeros(classes.size)
        np.divide(totals.sum(), classes.size * totals, out=weights, where=totals > 0)
        return dict(zip(classes.tolist(), weights.tolist(), strict=True))

    def score(self, X, y, sample_weight=None):
        """Score on test data with ``scoring`` (accuracy when it is None).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights, passed to the scorer.

        Returns
        -------
        score : float
            The scorer's value (greater is better).
        """
        check_is_fitted(self)
        scorer = _knowing_classes(
            get_scorer("accuracy" if self.scoring is None else self.scoring), self.classes_
        )
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return scorer(self, X, y, **kwargs)

    # Prediction is the classifier's own, on this estimator's fitted attributes.
    _logits = SoftmaxRegressionClassifier._logits
    decision_function = SoftmaxRegressionClassifier.decision_function
    predict = SoftmaxRegressionClassifier.predict
    predict_proba = SoftmaxRegressionClassifier.predict_proba
    predict_log_proba = SoftmaxRegressionClassifier.predict_log_proba

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = False
        tags.classifier_tags.poor_score = not self.fit_intercept
        return tags


def _fold_path(base, X, y, sample_weight, weighted, train, test, Cs, l1_ratio, scorer):
    """One fold's path over ``Cs`` (in the order given) at one ``l1_ratio``.

    Returns ``(coefs, scores, n_iter, solver)``: coefficients of shape
    ``(n_Cs, n_rows, n_dof)`` with the intercept last, and per-``C`` scores on
    the test rows and solver iterations.
    """
    clf = clone(base).set_params(l1_ratio=l1_ratio, warm_start=True)
    X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    fit_kwargs = {"sample_weight": sample_weight[train]} if weighted else {}
    score_kwargs = {"sample_weight": sample_weight[test]} if weighted else {}
    coefs, scores, n_iter = [], [], []
    # X and y were validated once by SoftmaxRegressionCV.fit: the path's fits and scores
    # skip re-checking that X is finite and that the parameters are valid.
    with config_context(assume_finite=True, skip_parameter_validation=True):
        for C in Cs:
            clf.set_params(C=C).fit(X_train, y_train, **fit_kwargs)
            coef = clf.coef_
            if clf.fit_intercept:
                coef = np.hstack([coef, clf.intercept_[:, None]])
            coefs.append(coef)
            scores.append(scorer(clf, X_test, y_test, **score_kwargs))
            n_iter.append(clf.n_iter_[0])
    return np.stack(coefs), np.asarray(scores, dtype=np.float64), np.asarray(n_iter), clf.solver_


def _knowing_classes(scorer, classes):
    """``scorer`` told every class (``labels=classes``, and the positive class for two)
    where its metric takes them: a test fold can miss a rare class, and log-loss or
    Brier then counted fewer classes than the model's probabilities (an error), macro
    averages fewer terms. LogisticRegressionCV does the same."""
    metric = getattr(scorer, "_score_func", None)
    takes = () if metric is None else inspect.signature(metric).parameters
    if "labels" not in takes:
        return scorer
    kwargs = {**getattr(scorer, "_kwargs", {}), "labels": classes}
    if classes.size == 2 and "pos_label" in takes:
        kwargs.setdefault("pos_label", classes[-1])
    return make_scorer(
        metric,
        greater_is_better=scorer._sign > 0,
        response_method=scorer._response_method,
        **kwargs,
    )


def _grid_of_Cs(Cs):
    if isinstance(Cs, Integral):
        return np.logspace(-4, 4, Cs)
    grid = np.asarray(Cs, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all(grid > 0) or np.isnan(grid).any():
        raise ValueError(
            f"Cs must be an int or a non-empty 1-D array of positive floats (np.inf for "
            f"no penalty), got {Cs!r}."
        )
    return grid


def _grid_of_l1_ratios(l1_ratios):
    if l1_ratios is None:
        return np.zeros(1)
    grid = np.asarray(l1_ratios, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all((grid >= 0) & (grid <= 1)):
        raise ValueError(
            f"l1_ratios must be None or a non-empty 1-D array of floats in [0, 1], "
            f"got {l1_ratios!r}."
        )
    return grid


def _check_folds(folds, y_idx, classes):
    """Every training fold needs every class: the scorer compares all classes' probabilities."""
    for k, (train, _) in enumerate(folds):
        missing = np.setdiff1d(np.arange(classes.size), y_idx[train])
        if missing.size:
            raise ValueError(
                f"The training set of fold {k} has no sample of class "
                f"{_label(classes[missing[0]])!r}, so its model could not score that class. Use "
                "fewer folds (cv) or a stratified splitter, or merge the rare classes."
            )


def _label(value):
    """A class label as the user wrote it (``2``, not ``np.int64(2)``)."""
    return value.item() if isinstance(value, np.generic) else value
