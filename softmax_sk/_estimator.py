"""The scikit-learn estimator: validation, classes and weights, tags, public methods.

The estimator turns user input into a coefficient layout (``_layout``), a data
term (``_loss``, with as many threads as ``_engine`` allows), a penalty
(``_penalty``) and a solver (``_solvers``), runs the solver and stores the
result through the layout. It never computes a gradient or reshapes a flat
coefficient vector itself.
"""

import dataclasses
import functools
import numbers
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.utils._array_api import check_same_namespace, get_namespace
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _bounds, _inference, _stochastic, _stream, _targets, _xp
from ._callbacks import CallbackSupportMixin, FitCallbacks
from ._centring import Centred, feature_mean
from ._engine import resolve_threads
from ._layout import Layout
from ._loss import SoftmaxLoss
from ._objective import Objective
from ._penalty import ElasticNet
from ._penalty_group import GroupLasso
from ._progress import ProgressLog
from ._sampled import NO_RULE, SAMPLERS
from ._softmax import _scaled_logits, _scaled_softmax
from ._solvers import SOLVERS, choose_solver
from ._sparse_coef import SparseCoefMixin

# The documentation of the released version; docs/conf.py checks that the API pages are there.
DOC_URL = "https://softmax-sk.readthedocs.io/en/stable/"
_SPARSE_FORMATS = ["csr", "csc"]
# The batch solvers that take their steps in centred coordinates (without L1 or bounds).
_CENTRED_SOLVERS = ("lbfgs", "newton-cg", "owlqn")


def _is_dask(data):
    """Whether ``data`` is a dask collection (without importing dask). dask 2024.3-2024.12
    define their dataframes in the separate package ``dask_expr``."""
    return type(data).__module__.partition(".")[0] in ("dask", "dask_expr")


def _lazy_on_dask(method):
    """A prediction method that, on dask X, returns a lazy dask array (``_dask.predict``)."""

    @functools.wraps(method)
    def wrapper(self, X, offset=None):
        if _is_dask(X):
            from . import _dask

            _dask.reject_unsupported(self, None, offset, fitting=False)
            return _dask.predict(self, method.__name__, X)
        return method(self, X, offset)

    return wrapper


class SoftmaxRegressionClassifier(
    CallbackSupportMixin, SparseCoefMixin, ClassifierMixin, BaseEstimator
):
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
    l1_type : {'elementwise', 'grouped'}, default='elementwise'
        The L1 term of ``l1_ratio``: ``'elementwise'`` is ``||W||_1``;
        ``'grouped'`` is ``sum_j ||W[:, j]||_2``, the L2 norm of each feature's
        coefficients over the classes (glmnet's ``type.multinomial="grouped"``),
        which keeps or drops a feature for every class at once: dropped
        features are exact zero columns of ``coef_``. See
        ``softmax_sk.grouped_lasso_path`` for the ``C`` where features enter.
    coef_bounds : (lower, upper) or None, default=None
        Box constraints on ``coef_``: each side a scalar or an array that
        broadcasts to ``coef_``'s shape, ``-np.inf``/``np.inf`` for none;
        ``(0, np.inf)`` makes every coefficient non-negative. Two classes: the
        one row of ``coef_`` (``classes_[1]`` against ``classes_[0]``); more:
        each class's coefficients in the symmetric parameterisation (see the
        README). Coefficients on a bound equal it exactly.
    intercept_bounds : (lower, upper) or None, default=None
        Box constraints on ``intercept_``, as ``coef_bounds`` (a separate
        parameter, as in Spark, since the shapes differ); needs
        ``fit_intercept=True``.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept per class.
    class_weight : dict or 'balanced', default=None
        Weights per class, multiplied into the sample weights. ``'balanced'``
        uses ``sum(sample_weight) / (n_classes * class_total_weight)``. As in
        scikit-learn, classes missing from a dict weigh 1, and keys that are not
        classes of ``y`` (a rare class absent from a cross-validation fold) are
        ignored when every class has a key; a dict that leaves a class out and
        has a key matching no class (a misspelt or mistyped label) is an error.
        With probability targets (``y_proba``, label smoothing) each
        class's share of a sample's loss is weighed: ``sum_k cw_k t_ik CE_ik``,
        as ``M`` samples of the matching labels would weigh; ``'balanced'``
        counts each class's total target probability.
    solver : {'auto', 'lbfgs', 'newton-cg', 'owlqn', 'lbfgsb', 'proxqn', 'proxnewton', \
'sgd'}, default='auto'
        ``'lbfgs'`` (L-BFGS, L2 or no penalty), ``'newton-cg'`` (truncated
        Newton with Hessian-vector products), ``'owlqn'`` (orthant-wise
        L-BFGS; it and ``'newton-cg'`` handle ``l1_ratio > 0``),
        ``'lbfgsb'`` (projected L-BFGS: bounds, with any elementwise
        penalty), ``'proxqn'`` and ``'proxnewton'`` (proximal quasi-Newton
        and proximal Newton: the grouped lasso, or any unbounded penalty).
        ``'auto'`` picks, for the grouped lasso, ``'proxnewton'`` for at most
        200 coefficients and ``'proxqn'`` above; with bounds ``'lbfgsb'``;
        otherwise ``'newton-cg'`` for at most 1000 coefficients and for sparse
        X without an L1 term, else ``'owlqn'`` with an L1 term and ``'lbfgs'``
        without. ``'sgd'``: minibatch proximal SVRG on the same objective
        (every elementwise penalty; exact zeros under L1; no bounds), the
        update ``partial_fit`` takes; see ``softmax_sk._stochastic``.
    max_iter : int, default=100
        Maximum number of solver iterations (epochs for ``'sgd'``).
    tol : float, default=1e-4
        The fit stops when both hold: the max-norm of the (minimum-norm
        sub)gradient of the objective divided by ``C * sum(s)`` is at most
        ``tol`` (the rule of 0.1), and the solver's estimate of the relative
        suboptimality ``(F - F*) / F`` is at most ``tol``. The estimate is the
        decrement ``-g.d / 2`` of the solver's Newton or quasi-Newton direction
        ``d``, made conservative; a small gradient alone stops early where the
        curvature is small too (a rare class, hundreds of classes, a weak
        penalty). Once the mean loss is below ``tol`` (separable data without a
        penalty) the gradient alone decides.
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_``; when the classes
        or the number of features changed, a warning says so and the fit starts
        from zero.
    verbose : int, default=0
        Progress on stdout: ``1`` prints a header (solver, problem size,
        ``tol``), iteration lines (objective, gradient, step, elapsed time) at
        most about ten a second plus the last one, and a closing line
        (converged or not and why, iterations, data passes, time); ``2`` or
        more prints every iteration.
    random_state : int, RandomState instance or None, default=None
        Seeds ``'sgd'``'s and ``partial_fit``'s row shuffles, class samples
        and early-stopping split; the batch solvers are deterministic and
        ignore it.
    n_jobs : int or None, default=None
        Threads that evaluate blocks of rows concurrently during ``fit`` (BLAS
        then runs single-threaded inside each), in joblib's conventions: ``-1``
        all CPUs this process may use, ``-2`` all but one, ``1`` one thread with
        BLAS left its own threads. ``None``: one per CPU for sparse X or more
        than 32 classes, where that was measured to pay, else one (and one
        inside a joblib worker). Never more than the CPUs the process may use
        (affinity, cgroup quotas, ``OMP_NUM_THREADS``). Data that fits in one
        block (256 KiB of logits) always uses one thread. Results do not depend
        on it beyond rounding.
    label_smoothing : float, default=0.0
        In [0, 1): fit to the targets ``(1 - eps) * onehot + eps / K`` instead
        of the one-hot labels (PyTorch's ``CrossEntropyLoss(label_smoothing=eps)``;
        applied to ``y_proba`` rows too). No dense ``n x K`` target is formed
        unless class weights differ between classes.
    batch_size : int or 'auto', default='auto'
        Rows per stochastic step (``'sgd'``, ``partial_fit``); ``'auto'``: for
        the full softmax, about an eighth of the rows and at least two per
        class (``fit``) or, without an L1 term, five times the square root of
        the call's rows (``partial_fit``), within [256, 4096] and at very many
        classes at most 256 MiB of float64 rows x classes, in equal batches;
        otherwise (the sampled softmax, ``partial_fit`` with an L1 term) 256
        (all rows when fewer). The batch solvers ignore this parameter and the
        eight after it.
    learning_rate : {'adaptive', 'constant'}, default='adaptive'
        ``'adaptive'``: ``fit(solver='sgd')`` ends an epoch with a line step
        along its displacement (no L1 term), undoes one that raised the
        objective and halves the step, and grows the step by 10% after one
        that lowered it; ``'constant'``: ``eta0`` throughout.
        ``partial_fit`` scales a call's step by the square root of its share of
        the weight seen so far, and a call of more than 12 minibatches takes
        12 steps' worth in all, on at most 24 of them (more where 24 hold fewer
        than 25,000 rows; its gradient at the start of the call reads every row).
    eta0 : float or 'auto', default='auto'
        Initial step: in units of the Hessian diagonal for the full softmax
        (``'auto'``: 0.1), AdaGrad's step for the sampled softmax (``'auto'``:
        1.0). A full-softmax ``partial_fit`` call moves about ``eta0`` times
        the square root of its share of the weight seen times its minibatches
        (at most 12): a stream of calls of a few hundred rows, one or two
        minibatches each at the default ``batch_size``, moves slowly; a larger
        ``eta0`` or a smaller ``batch_size`` speeds it up.
    shuffle : bool, default=True
        Shuffle the rows before each pass.
    early_stopping : bool, default=False
        ``fit(solver='sgd')`` holds out ``validation_fraction`` of the rows
        and stops when their accuracy (weighted by sample and class weights,
        where ``SGDClassifier`` weighs by sample weight alone) has not improved
        by more than ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        The held-out share for ``early_stopping``.
    n_iter_no_change : int, default=5
        Epochs without improvement before ``early_stopping`` stops.
    n_sampled_classes : int or None, default=None
        Train ``'sgd'`` / ``partial_fit`` with a sampled softmax: each step
        computes the batch's classes and this many classes drawn from
        ``sampler`` (with replacement) instead of every class
        (``softmax_sk._sampled``). The logits are corrected so that the sampled
        gradient vanishes in expectation at the true model, but on finite data
        its optimum is not exactly the full objective's (see the README);
        predictions always use the full softmax. ``fit`` runs ``max_iter``
        epochs (or stops early) without a stopping rule: ``convergence_``
        says it did not converge, and no ``ConvergenceWarning`` is raised.
        ``None``, or at least ``n_classes - 1``: the full softmax.
    sampler : {'uniform', 'log_uniform', 'frequency'}, default='uniform'
        The sampled classes' distribution: uniform over the classes; Zipf-like in
        the class index (``log_uniform``, for classes sorted by decreasing
        frequency); or the class frequencies seen so far.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes (the positive class ``classes_[1]``).
        A scipy CSR matrix after ``sparsify()``.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``).
    n_iter_ : ndarray of shape (1,)
        Number of solver iterations.
    convergence_ : dict
        How the fit stopped: ``converged`` (bool, the stopping rule held),
        ``gradient_norm`` (the max-norm the rule compares with ``tol``),
        ``suboptimality_estimate`` (the estimated relative suboptimality) and
        ``message`` (why the solver stopped, in words).
    solver_ : str
        The solver that ran (what ``'auto'`` resolved to; ``'sgd'`` after
        ``partial_fit``).
    optimizer_state_ : SGDState or None
        The stochastic optimizer's state after ``'sgd'`` or ``partial_fit``
        (None after a batch solver), from which ``partial_fit`` continues.
        After ``partial_fit`` it holds the preconditioner, the last anchor, the
        remembered gradients and, without an L1 term, up to 10 curvature pairs:
        23 arrays the size of ``coef_`` (and the intercepts), 24 while a
        preconditioner is being pooled over small calls.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X has string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The model this one reproduces.

    Notes
    -----
    With scikit-learn >= 1.9, ``set_callbacks`` takes its callbacks
    (``sklearn.callback.ProgressBar``, ``ScoringMonitor``, ...) for every
    solver: ``fit`` is one task with one subtask per solver iteration, and a
    callback's ``on_fit_task_end`` returning True stops the fit after that
    iteration (``convergence_["message"]`` says so; no ``ConvergenceWarning``).

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

    Class probabilities as targets (here smoothed labels), and an offset per
    sample and class added to the logits:

    >>> import numpy as np
    >>> P = 0.9 * np.eye(3)[y] + 0.1 / 3
    >>> soft = SoftmaxRegressionClassifier(max_iter=200).fit(X, y_proba=P)
    >>> soft.classes_
    array([0, 1, 2])
    >>> offset = np.zeros((len(X), 3))
    >>> offset[:, 2] = 1.0  # a prior shift towards class 2
    >>> shifted = SoftmaxRegressionClassifier(max_iter=200).fit(X, y, offset=offset)
    >>> shifted.predict(X[:2], offset=offset[:2])
    array([0, 0])
    """

    def __init__(
        self,
        C=1.0,
        *,
        l1_ratio=0.0,
        l1_type="elementwise",
        coef_bounds=None,
        intercept_bounds=None,
        fit_intercept=True,
        class_weight=None,
        solver="auto",
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        random_state=None,
        n_jobs=None,
        label_smoothing=0.0,
        batch_size="auto",
        learning_rate="adaptive",
        eta0="auto",
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        n_sampled_classes=None,
        sampler="uniform",
    ):
        self.C = C
        self.l1_ratio = l1_ratio
        self.l1_type = l1_type
        self.coef_bounds = coef_bounds
        self.intercept_bounds = intercept_bounds
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.label_smoothing = label_smoothing
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_sampled_classes = n_sampled_classes
        self.sampler = sampler

    # The HTML repr (in Jupyter) links the estimator's name and each parameter to
    # this page of the documentation, as scikit-learn's estimators link to theirs.
    _doc_link_module = "softmax_sk"
    _doc_link_template = DOC_URL + "api/generated/{estimator_module}.{estimator_name}.html"

    # -- fitting -----------------------------------------------------------------
    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "l1_type": [StrOptions({"elementwise", "grouped"})],
        "coef_bounds": [tuple, list, None],
        "intercept_bounds": [tuple, list, None],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "solver": [StrOptions({"auto", "sgd", *SOLVERS})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_jobs": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
        ],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"adaptive", "constant"})],
        "eta0": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_sampled_classes": [None, Interval(Integral, 1, None, closed="left")],
        "sampler": [StrOptions(set(SAMPLERS))],
    }

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, *, y_proba=None, offset=None):
        """Fit the model to training data: labels ``y`` or class probabilities ``y_proba``.

        A fit that raises (bad input, an interrupt) leaves the estimator exactly
        as it was before the call.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array or dataframe} of shape (n_samples, n_features)
            Training data; float32 data is fitted in float32. Dask collections
            (with dask or in-memory ``y`` and ``sample_weight``) are fitted on
            the workers of the current ``distributed.Client`` (``_dask``).
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct ones). Pass exactly one of
            ``y`` and ``y_proba``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights with a positive sum.
        y_proba : array-like of shape (n_samples, n_classes), default=None
            Each sample's probability of each class (distillation, aggregated or
            noisy labels): rows of non-negative values summing to 1 (within
            1e-6, a little more for float32 rows of many classes). The
            cross-entropy against each row is minimised; one-hot rows fit as
            their labels do. ``classes_`` becomes ``arange(n_classes)``,
            or the column labels of a DataFrame, sorted (as ``classes_``
            always is; the columns are matched to them).
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            Added to each sample's logits, not fitted (an exposure, a base model's
            margins). Shape (n_samples,) with two classes only: added to the logit
            of ``classes_[1]`` against ``classes_[0]``, as statsmodels' ``Logit``
            and glum's ``offset``. Pass the same offsets to ``predict*``.

        Returns
        -------
        self : SoftmaxRegressionClassifier
            The fitted estimator.
        """
        # Opened before the snapshot, so that undoing a failed fit keeps what
        # scikit-learn tears the callbacks down with.
        callbacks = FitCallbacks(self, self.max_iter)
        return self._restoring(self._fit, X, y, sample_weight, y_proba, offset, callbacks)

    def _restoring(self, method, *args):
        """``method(*args)``, with ``__dict__`` put back as it was if it raises."""
        before = self.__dict__.copy()
        try:
            return method(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, y, sample_weight, y_proba, offset, callbacks):
        if _is_dask(X):  # dask collections: fitted on the workers that hold them
            from . import _dask

            _dask.reject_unsupported(self, y_proba, offset)
            return _dask.fit(self, X, y, sample_weight, callbacks)
        user_weight = sample_weight
        xp, device = _xp.input_namespace(X, y, sample_weight)
        if xp is not None and (y_proba is not None or offset is not None or self.label_smoothing):
            raise ValueError(
                "y_proba, offset and label_smoothing are fitted on NumPy arrays only; with "
                "array API dispatch on, pass X as a NumPy array (or move it to the host) "
                "for these fits."
            )
        y_in = y
        if y_proba is not None:
            if y is not None:
                raise ValueError("Pass exactly one of y (labels) and y_proba (probabilities).")
            X = validate_data(self, X, accept_sparse=_SPARSE_FORMATS, dtype=_xp.float_dtypes(None))
            classes, Y = _targets.check_y_proba(y_proba, X.shape[0])
            y_idx = None
        else:
            X, classes, y_idx, y_in = self._check_labels(X, y, xp)
            Y = None
        sample_weight = _xp.to_host(sample_weight)
        sample_weight, sw_scale = _unit_max(_check_sample_weight(sample_weight, X.shape[0]))
        eps = float(self.label_smoothing)
        totals = _targets.class_totals(y_idx, Y, sample_weight, classes.size, eps)
        class_weight, cw_scale = _unit_max(self._class_weights(classes, totals))
        targets = _targets.resolve(y_idx, Y, classes.size, sample_weight, class_weight, eps)
        weights = targets.weights
        offset = _targets.check_offset(offset, X.shape[0], classes.size, X.dtype)
        _check_weight_total(weights.sum())

        layout = Layout(X.shape[1], classes.size, bool(self.fit_intercept))
        heavy = sp.issparse(X) or classes.size > 32
        n_threads = resolve_threads(self.n_jobs, heavy)
        scales = (sw_scale, cw_scale)
        grouped = self.l1_type == "grouped"
        scaling = (self.C, self.l1_ratio, weights, layout.penalized())
        if grouped:
            penalty = GroupLasso.from_C(*scaling, layout.k, scales=scales)
        else:
            penalty = ElasticNet.from_C(*scaling, scales=scales)
        dtype = _xp.numpy_dtype(X, xp)
        bounds = _bounds.flat_bounds(self.coef_bounds, self.intercept_bounds, layout, dtype)
        solver = self._resolve_solver(
            layout.size, penalty.has_l1, sp.issparse(X), bounds is not None, grouped
        )
        if solver == "sgd":
            if xp is not None:
                raise ValueError(
                    "solver='sgd' (and partial_fit) runs on NumPy arrays only; with array "
                    "API dispatch on, pass X as a NumPy array or use a batch solver."
                )
            data = _stochastic.Rows(X, targets.y, weights, offset, targets.smoothing)
            loss = functools.partial(
                _stream.fit_sgd, self, data, layout, penalty,
                labels=y_idx if Y is None else np.argmax(Y, axis=1),
                scales=scales, n_threads=n_threads,
            )  # fmt: skip
        elif xp is None:
            loss = SoftmaxLoss(
                X,
                targets.y,
                weights,
                layout,
                n_threads=n_threads,
                offset=offset,
                label_smoothing=targets.smoothing,
            )
        else:
            loss = _xp.device_loss(X, y_idx, weights, layout, xp, device)
        # (the separation advice reads labels and logits without offsets)
        labels = y_idx if offset is None else None
        return self._solve(
            solver,
            loss,
            penalty,
            classes,
            layout=layout,
            dtype=dtype,
            bounds=bounds,
            advice=lambda coef, intercept: self._data_advice(X, labels, layout, coef, intercept),
            callbacks=callbacks,
            data=(X, y, user_weight),
            where=(xp, device, y_in),
            y_proba=Y is not None,
            offset=offset is not None,
            weight=float(weights.sum()) * sw_scale * cw_scale,
        )

    def _solve(
        self,
        solver,
        loss,
        penalty,
        classes,
        *,
        layout,
        dtype,
        advice,
        callbacks,
        data,
        bounds=None,
        where=(None, None, None),
        y_proba=False,
        offset=False,
        weight=None,
    ):
        """Minimise data term + penalty with ``solver`` and store the fitted attributes.

        Shared by fits in memory, on an array-API device and on Dask workers.
        ``loss``: the data term, or for ``solver="sgd"`` a function of the starting
        point returning ``(SolverResult, optimizer state)``. ``advice(coef, intercept)``:
        what the data suggests when the solver did not converge (a list of phrases).
        ``data``: ``(X, y, sample_weight)`` as passed to ``fit``, for the progress log
        and the callbacks, which a fit on Dask collections skips (``callbacks=None``).
        ``where``: the namespace and device of X and the labels as given, where the
        fitted attributes go. ``bounds``: the flat ``(lower, upper)`` box or None.
        ``y_proba``, ``offset``: whether the fit had them. ``weight``: the rows' total
        weight (a later ``partial_fit`` reads ``C`` per weight seen from it), or None.
        """
        xp, device, y_in = where
        X, y, user_weight = data
        x0 = self._warm_start_coefs(classes, layout)
        if bounds is not None:  # a warm start from outside the box starts on it
            x0 = np.clip(x0, *bounds)
        state, n_passes = None, None
        log = ProgressLog(solver, self.verbose) if self.verbose > 0 else None
        if log is not None:
            log.begin(
                n_samples=X.shape[0],
                n_features=X.shape[1],
                n_classes=classes.size,
                n_coefs=layout.size,
                tol=self.tol,
                max_iter=self.max_iter,
            )

        def fitted(x):  # what a callback's fitted_estimator needs at iterate x
            coef, intercept = layout.unpack(x, dtype)
            return {"classes_": classes, "coef_": coef, "intercept_": intercept}

        if callbacks is not None:
            callbacks.begin(X, y, user_weight, solver, x0, fitted)
        # Overflow in a solver's sums (features near 1e308) is handled where it matters and
        # the ConvergenceWarning that follows says what to do; it came after 80 of these.
        with np.errstate(over="ignore"):
            if solver == "sgd":
                result, state = loss(x0)
            else:
                obj = self._objective(solver, loss, penalty, bounds, _is_dense(X, xp))
                entry = SOLVERS[solver]

                previous = [x0]

                def on_iteration(it, x, F, grad_norm, step):  # in the model's coordinates
                    x = obj.to_model(x)
                    if obj.mean is not None:  # (the solver's step is of the centred ones)
                        step = float(np.max(np.abs(x - previous[0]), initial=0.0))
                    previous[0] = x
                    report = (it, x, F, grad_norm, step)
                    if log is not None:
                        log.iteration(*report)
                    return callbacks is not None and callbacks.iteration(*report)

                options = {"refresh_every": loss.preconditioner_refresh, "target": self._target()}
                with loss.running():
                    result = entry.function(
                        obj,
                        obj.to_solver(x0),
                        tol=float(self.tol),
                        max_iter=int(self.max_iter),
                        verbose=int(self.verbose),
                        on_iteration=on_iteration,
                        **{name: options[name] for name in entry.options},
                    )
                result = dataclasses.replace(result, x=obj.to_model(result.x))
                n_passes = obj.n_passes
        if log is not None:
            log.end(result.converged, result.message, n_iter=result.n_iter, n_passes=n_passes)
        n_iter = np.array([result.n_iter], dtype=np.int32)
        coef, intercept, n_iter = _xp.to_device(
            (*layout.unpack(result.x, dtype), n_iter), xp, device
        )
        stopped = result.message in (_stochastic.STOPPED_EARLY, NO_RULE) or (
            callbacks is not None and callbacks.stopped
        )
        if not (result.converged or stopped):
            self._warn_not_converged(solver, result, dtype, advice(coef, intercept))

        self.classes_ = classes if y_in is None else _xp.like(classes, y_in)
        self.coef_, self.intercept_ = coef, intercept
        self.n_iter_ = n_iter
        self.convergence_ = {
            "converged": bool(result.converged),
            "gradient_norm": float(result.grad_norm),
            "suboptimality_estimate": float(result.suboptimality),
            "message": result.message,
        }
        self.solver_ = solver
        self.optimizer_state_ = state
        self._n_passes = n_passes
        self._remember_fit_params(
            y_proba=y_proba,
            offset=offset,
            bounded=bounds is not None,
            weight=weight,
        )
        if callbacks is not None:
            callbacks.end()
        return self

    def _remember_fit_params(self, **how):
        """What inference() must know of the fit, whatever set_params did since."""
        self._fitted_with = {
            name: getattr(self, name)
            for name in ("C", "class_weight", "fit_intercept", "label_smoothing")
        }
        self._fitted_with.update(how)

    @available_if(_stream.streamable)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass of the stochastic solver (``solver="sgd"``'s update) over a batch.

        Whatever ``solver`` says, ``partial_fit`` takes stochastic steps, and it
        continues from ``coef_`` when the model is already fitted (by ``fit`` or
        an earlier call). The optimizer's state (step size, step count, weight
        seen, shuffling generator, preconditioner and curvature pairs) is
        ``optimizer_state_``: a pickled model resumes its stream exactly. ``C`` is read per unit of
        weight seen so far: after batches of total weight ``W`` (this one
        included; a second pass over the same rows counts them again) the
        batch's step targets the objective ``C * sum s_i CE_i + penalty`` of a
        data set of weight ``W``, so the penalty's share shrinks as the stream
        grows, as it would in a batch fit on all the data seen.
        ``class_weight="balanced"`` is computed from each batch. The pass
        starts from the batch's exact gradient (every row) and steps on at most
        24 of its minibatches, more where 24 hold fewer than 25,000 rows
        (``learning_rate``). A call that raises leaves the estimator exactly as
        it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : array-like of shape (n_samples,)
            Its labels, all from ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every label the stream can contain; required on the first call (when
            the model is not fitted), and if given later, must equal ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights with a positive sum.

        Returns
        -------
        self : SoftmaxRegressionClassifier
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from softmax_sk import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> X = (X - X.mean(axis=0)) / X.std(axis=0)
        >>> clf = SoftmaxRegressionClassifier(random_state=0)
        >>> for epoch in range(50):  # 50 passes over 3 shuffled chunks
        ...     for chunk in np.array_split(np.random.default_rng(epoch).permutation(150), 3):
        ...         clf = clf.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        >>> round(clf.score(X, y), 3)
        0.973
        >>> round(SoftmaxRegressionClassifier().fit(X, y).score(X, y), 3)  # the batch fit
        0.973
        """
        return self._restoring(self._partial_fit, X, y, classes, sample_weight)

    def _partial_fit(self, X, y, classes, sample_weight):
        if _is_dask(X):
            raise TypeError(
                "partial_fit takes in-memory batches, not dask collections: pass the chunks "
                "one at a time, computed (e.g. for each of X.to_delayed()), or fit(X, y) with "
                "a batch solver on the cluster."
            )
        if _xp.input_namespace(X, y, sample_weight)[0] is not None:
            raise ValueError(
                "partial_fit runs on NumPy arrays only; with array API dispatch on, pass "
                "the batch as NumPy arrays, or fit(X, y) with a batch solver on the device."
            )
        if hasattr(self, "coef_"):
            _xp.require_host_model(self, "partial_fit")
        checks = (_reject_multioutput, _check_sample_weight)
        classes, (coef, intercept), state = _stream.partial_fit(
            self, X, y, classes, sample_weight, checks=checks
        )
        self.classes_ = classes
        self.coef_, self.intercept_ = coef, intercept
        self.optimizer_state_ = state
        self.n_iter_ = np.array([1], dtype=np.int32)
        self.convergence_ = {
            "converged": False,
            "gradient_norm": float("nan"),
            "suboptimality_estimate": float("nan"),
            "message": "partial_fit: one pass over a batch, no stopping rule",
        }
        self.solver_ = "sgd"
        self._n_passes = None
        self._remember_fit_params(y_proba=False, offset=False)
        return self

    def _check_labels(self, X, y, xp=None):
        """``(X, classes, y_idx, y)``: validated data, the class index of each label (on
        the host) and the validated labels where they live (namespace ``xp``)."""
        X, y = validate_data(
            self, X, y, accept_sparse=_SPARSE_FORMATS, dtype=_xp.float_dtypes(xp), multi_output=True
        )
        y_in, y = y, _xp.to_host(y)
        _reject_multioutput(y)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        _check_classes(classes)
        return X, classes, y_idx, y_in

    # Stopping rule: "suboptimality" (the gradient and the estimated relative
    # suboptimality) or "gradient" (the gradient alone, the rule of 0.1; kept for
    # the benchmarks' before/after comparison).
    _stopping = "suboptimality"

    def _target(self):
        return None if self._stopping == "gradient" else float(self.tol)

    def _resolve_solver(self, n_coefs, has_l1, sparse, bounded=False, grouped=False):
        if bounded and grouped and has_l1:
            raise ValueError(
                "coef_bounds and intercept_bounds cannot be combined with the grouped "
                "lasso (l1_type='grouped' with l1_ratio > 0): use l1_type='elementwise', "
                "or no bounds."
            )
        if self.solver == "auto":
            return choose_solver(n_coefs, has_l1, sparse, bounded, grouped)
        for needed, flag, what in (
            (grouped and has_l1, "handles_grouped", "the grouped lasso (l1_type='grouped')"),
            (bounded, "handles_bounds", "coef_bounds or intercept_bounds"),
        ):
            entry = SOLVERS.get(self.solver)  # None: sgd, which handles neither
            if needed and not getattr(entry, flag, False):
                able = [name for name, entry in SOLVERS.items() if getattr(entry, flag)]
                raise ValueError(
                    f"solver={self.solver!r} does not handle {what}: use solver='auto' "
                    f"or one of {able}."
                )
        if has_l1 and self.solver != "sgd" and not SOLVERS[self.solver].handles_l1:
            l1_solvers = [name for name, entry in SOLVERS.items() if entry.handles_l1]
            raise ValueError(
                f"solver={self.solver!r} supports only the L2 penalty (l1_ratio=0) "
                f"or no penalty (C=np.inf), got l1_ratio={self.l1_ratio}. Use "
                f"solver='auto' or one of {l1_solvers}."
            )
        return self.solver

    def _class_weights(self, classes, totals):
        """Weight of each class (n_classes,), from ``class_weight``.

        ``totals`` is each class's total sample weight (``'balanced'``). A dict's
        keys are matched as scikit-learn's ``compute_class_weight`` does (see the
        class docstring).
        """
        cw = self.class_weight
        if cw is None:
            return np.ones(classes.size)
        if isinstance(cw, str):  # 'balanced'
            out = np.zeros(classes.size)  # a class with no weight keeps none
            np.divide(totals.sum(), classes.size * totals, out=out, where=totals > 0)
            return out
        labels = classes.tolist()
        missing = [c for c in labels if c not in cw]
        if missing and len(labels) - len(missing) != len(cw):
            stray = [k for k in cw if k not in set(labels)]

            def some(values):  # at most 10, for thousands of classes
                return str(values[:10])[:-1] + (", ...]" if len(values) > 10 else "]")

            raise ValueError(
                f"class_weight has keys {some(stray)} that are no class of y, and the "
                f"classes {some(missing)} have no key: check the keys' spelling and type "
                f"(the labels are {some(labels)}), or give every class a weight."
            )
        out = np.array([cw.get(c, 1.0) for c in labels], dtype=np.float64)
        if not (np.all(np.isfinite(out)) and np.all(out >= 0)):
            raise ValueError(f"class_weight values must be finite and >= 0, got {cw}.")
        return out

    @staticmethod
    def _objective(solver, loss, penalty, bounds, dense):
        """The objective the batch ``solver`` minimises: in centred coordinates
        (``_centring``) for ``lbfgs`` / ``newton-cg`` / ``owlqn`` without an L1 term or
        bounds on ``dense`` X (in memory, on Dask or on a device), the stopping rule still on
        the model's gradient (features shifted by -300..300: lbfgs from over 1,000
        iterations to 56, 17 unshifted; ``benchmarks/probe_centring.py``); as it is
        otherwise."""
        obj = Objective(loss, penalty, bounds)
        centred = solver in _CENTRED_SOLVERS and not penalty.has_l1 and bounds is None
        return Centred(obj, loss.layout, feature_mean(loss, dense) if centred else None)

    def _warm_start_coefs(self, classes, layout):
        if not (self.warm_start and hasattr(self, "coef_")):
            return layout.zeros()
        coef, intercept, fitted = map(_xp.to_host, (self.coef_, self.intercept_, self.classes_))
        if layout.fits(coef, fitted, classes):
            return layout.pack(coef, intercept)
        warnings.warn(
            f"warm_start=True, but the previous fit had {fitted.size} classes and "
            f"{self.coef_.shape[1]} features and this one has {classes.size} and "
            f"{layout.n_features} (or other class labels): starting from zero.",
            UserWarning,
            stacklevel=7,
        )
        return layout.zeros()

    def _warn_not_converged(self, solver, result, dtype, data_advice):
        advice = []
        if result.n_iter >= self.max_iter:
            advice.append(f"increase max_iter (now {self.max_iter})")
        else:
            advice.append(
                f"the objective stopped decreasing before tol was reached ({result.message}); "
                f"tol={self.tol:g} may be tighter than {dtype} arithmetic allows, "
                "so use a looser tol"
            )
        estimate = result.suboptimality
        how_far = (
            f"its objective is estimated to be {estimate:.2g} (relative) above the optimum, "
            f"where a fit that converges is within tol={self.tol:g}"
            if np.isfinite(estimate)
            else "its distance to the optimum could not be estimated"
        )
        warnings.warn(
            f"{solver} did not converge: after {result.n_iter} iterations {how_far}; the "
            f"max-norm of the gradient is {result.grad_norm:.3g} (tol {self.tol:g}). "
            "To converge: " + "; ".join(advice + data_advice) + ".",
            ConvergenceWarning,
            stacklevel=7,
        )

    def _data_advice(self, X, y_idx, layout, coef, intercept):
        """What the training data suggests for a fit that did not converge (phrases)."""
        advice = _scale_advice(_feature_scale(X))
        if np.isinf(self.C):
            z, _ = _xp.logits(layout, X, coef, intercept)
            if np.array_equal(_xp.row_argmax(z), y_idx):
                advice.append(
                    "use a finite C: the training data is separable, so with "
                    "C=np.inf the coefficients grow without bound"
                )
        return advice

    # -- prediction --------------------------------------------------------------
    def _logits(self, X, method, offset=None):
        """``(z, row_scale)`` of validated new data (see ``_layout.Layout.logits``), where
        X lives, with ``offset`` added."""
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="coef_", method=method)
        xp, _ = _xp.input_namespace(X)
        with np.errstate(over="ignore", invalid="ignore"):  # its finiteness check sums X
            X = validate_data(
                self, X, accept_sparse=_SPARSE_FORMATS, dtype=_xp.float_dtypes(xp), reset=False
            )
        layout = Layout(self.n_features_in_, self.classes_.shape[0], bool(self.fit_intercept))
        z, row_scale = _xp.logits(layout, X, self.coef_, self.intercept_)
        if offset is None:
            return z, row_scale
        if xp is not None:
            raise ValueError("offset is supported with NumPy input only (array API dispatch off).")
        offset = _targets.check_offset(offset, X.shape[0], self.classes_.size, X.dtype)
        return _targets.add_offset(z, row_scale, offset), row_scale

    @_lazy_on_dask
    def decision_function(self, X, offset=None):
        """Logits: shape (n_samples,) for two classes (positive class), else (n_samples, n_classes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            Added to the logits, as in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``X @ coef_.T + intercept_ (+ offset)``.
        """
        z = _scaled_logits(*self._logits(X, "decision_function", offset))
        # two classes: the positive class's logit against the reference's (0 without offset)
        return z[:, 1] - z[:, 0] if self.classes_.shape[0] == 2 else z

    @_lazy_on_dask
    def predict(self, X, offset=None):
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            Added to the logits, as in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        z, _ = self._logits(X, "predict", offset)
        return _xp.take_classes(self.classes_, z)

    @_lazy_on_dask
    def predict_proba(self, X, offset=None):
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            Added to the logits, as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Finite, rows summing to 1, columns in the order of ``classes_``.
        """
        return _scaled_softmax(*self._logits(X, "predict_proba", offset))

    @_lazy_on_dask
    def predict_log_proba(self, X, offset=None):
        """Log class probabilities, a log-softmax (finite where ``predict_proba`` underflows).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            Added to the logits, as in ``fit``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return _scaled_softmax(*self._logits(X, "predict_log_proba", offset), log=True)

    def score(self, X, y, sample_weight=None, *, offset=None):
        """Mean accuracy of ``predict(X, offset)`` against ``y``.

        Takes ``offset`` so that a search routes the test folds' offsets here
        (``set_score_request(offset=True)``) rather than scoring without them.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            Added to the logits, as in ``fit``.

        Returns
        -------
        score : float
            Weighted fraction of correctly classified samples.
        """
        return accuracy_score(y, self.predict(X, offset=offset), sample_weight=sample_weight)

    # -- inference ---------------------------------------------------------------
    def inference(
        self, X, y, sample_weight=None, *, cov_type="nonrobust", groups=None, base_class=None
    ):
        """Standard errors, p-values and summary tables of an unpenalised fit.

        Pass the training data again (scikit-learn estimators do not keep it).
        Parameters are reported as statsmodels' ``MNLogit`` and Stata's
        ``mlogit`` do: each non-base class's coefficients minus those of
        ``base_class``; with two classes, exactly binary logistic regression.
        Needs ``C=np.inf`` and no ``class_weight``: a penalty biases the
        estimates, and the usual standard errors do not apply to them. Fits to
        probability targets, with offsets or with label smoothing are refused:
        the likelihood here is that of one observed label per row. The
        fitted coefficients are polished by Newton steps with the exact Hessian
        to the maximum of the likelihood (``results.refinement`` says how far
        they moved); a fit more than half a standard error away is refused with
        advice to refit with a tighter ``tol``. Separated classes (no maximum
        likelihood estimate), collinear features and a near-singular
        information matrix raise a ``ValueError`` that says what to do, never a
        table of NaN. Through a ``Pipeline``: ``pipe.set_output(transform="pandas")``
        before fitting, then ``pipe[-1].inference(pipe[:-1].transform(X), y)``
        labels the terms with the transformed feature names.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training data.
        y : array-like of shape (n_samples,)
            Its labels, all from ``classes_``, every class present.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights (a weight of 3 counts a row three times; ``nobs``
            is their sum), as in the fit.
        cov_type : {'nonrobust', 'HC0', 'HC1', 'cluster'}, default='nonrobust'
            ``'nonrobust'``: the inverse of the observed information (the
            exact Hessian of the log-likelihood). ``'HC0'``: the sandwich
            ``I^-1 (sum_i w_i g_i g_i^T) I^-1`` of the per-row scores ``g_i``;
            ``'HC1'``: HC0 times ``nobs / (nobs - n_params)``. ``'cluster'``:
            the sandwich of the scores summed per cluster of ``groups``, times
            ``G / (G - 1) * (nobs - 1) / (nobs - n_params)`` with ``G``
            clusters (statsmodels' default ``use_correction=True``; p-values
            from the normal distribution, as statsmodels' default
            ``use_t=False``).
        groups : array-like of shape (n_samples,), default=None
            Cluster labels, for ``cov_type='cluster'`` only.
        base_class : label, default=None
            The reference class (default: ``classes_[0]``).

        Returns
        -------
        results : InferenceResults
            ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``,
            ``cov_params()``, ``llf``, ``llnull``, ``llr``, ``llr_pvalue``,
            ``prsquared``, ``aic``, ``bic``, ``nobs``, ``summary()``,
            ``summary_frame()``, ``get_margeff()``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from softmax_sk import SoftmaxRegressionClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(C=np.inf, tol=1e-10, max_iter=500)
        >>> res = clf.fit(X[:, [0]], y).inference(X[:, [0]], y)  # sepal length
        >>> res.params.round(2)  # rows: x0, const; columns: classes 1, 2 against 0
        array([[  4.82,   6.85],
               [-26.08, -38.76]])
        >>> res.pvalues.max() < 1e-6
        np.True_
        >>> clf.fit(X, y).inference(X, y)  # all four features: setosa is separated
        Traceback (most recent call last):
        ...
        ValueError: The classes are (quasi-)completely separated: ...
        """
        check_is_fitted(self)
        _targets.refuse_for_inference(getattr(self, "_fitted_with", {}))
        if getattr(self, "_fitted_with", {}).get("bounded"):
            raise ValueError(
                "inference() needs an unconstrained fit, but this model was fitted with "
                "coef_bounds/intercept_bounds: at an active bound the usual standard errors "
                "do not apply. Refit with coef_bounds=None and intercept_bounds=None."
            )
        _xp.require_host_model(self, "inference")
        X = validate_data(
            self, X, accept_sparse=_SPARSE_FORMATS, dtype=_xp.float_dtypes(None), reset=False
        )
        y = column_or_1d(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} samples, but X has {X.shape[0]}.")
        y_idx = np.searchsorted(self.classes_, y)
        unknown = (y_idx >= self.classes_.size) | (
            self.classes_[np.minimum(y_idx, self.classes_.size - 1)] != y
        )
        if unknown.any():
            raise ValueError(
                f"y contains labels that are not among the fitted classes "
                f"{self.classes_.tolist()}, e.g. {y[unknown][0]!r}: pass the training labels."
            )
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{j}" for j in range(self.n_features_in_)]
        return _inference.infer(
            X,
            y_idx.astype(np.intp),
            sample_weight,
            classes=self.classes_,
            coef=self.coef_,
            intercept=self.intercept_,
            fit_intercept=self._fitted_with["fit_intercept"],
            C=self._fitted_with["C"],
            class_weight=self._fitted_with["class_weight"],
            feature_names=names,
            cov_type=cov_type,
            groups=groups,
            base_class=base_class,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # Dense X on its own device (see _xp); label smoothing (like probability targets
        # and offsets) and the stochastic solver run on the host only.
        tags.array_api_support = not self.label_smoothing and self.solver != "sgd"
        tags.classifier_tags.multi_label = False
        # Without an intercept every decision boundary passes through the origin,
        # so off-centre data (scikit-learn's blobs) cannot be scored well; nor can
        # data that needs a sign the coefficient bounds forbid.
        tags.classifier_tags.poor_score = not self.fit_intercept or _bounds.fixes_a_sign(
            self.coef_bounds
        )
        return tags


def _check_classes(classes):
    if classes.size < 2:
        label = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]
        raise ValueError(
            "SoftmaxRegressionClassifier needs samples of at least 2 classes, "
            f"but y contains only one class: {label!r}. A classifier "
            "needs examples of every class it should tell apart."
        )


def _is_dense(X, xp):
    """Whether X's rows are dense: a device array, or NumPy / Dask data without sparse
    chunks."""
    if xp is not None:
        return True
    if _is_dask(X):
        from . import _dask

        return not _dask._is_sparse(X)
    return not sp.issparse(X)


def _check_weight_total(total):
    if not total > 0:
        raise ValueError(
            "The sample weights times the class weights sum to zero; at "
            "least one sample needs a positive weight."
        )


def _scale_advice(scale):
    """Advice for features whose largest magnitude is ``scale`` (a list, maybe empty)."""
    if scale > 100 or (0 < scale < 1e-2):
        return [
            f"scale the features (e.g. with StandardScaler): their largest magnitude is {scale:.3g}"
        ]
    return []


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


def _unit_max(values):
    """``(values / max, max)``: weights scaled so that no sum of them overflows."""
    top = float(values.max(initial=0.0))
    return (values / top, top) if top > 0 else (values, 1.0)


def _feature_scale(X):
    """Largest absolute feature value (0 for empty data), without a copy of X."""
    values = X.data if sp.issparse(X) else X
    if 0 in values.shape:
        return 0.0
    xp, _ = get_namespace(values)
    return float(max(xp.max(values), -xp.min(values)))
