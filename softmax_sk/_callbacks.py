"""scikit-learn's callback API (``sklearn.callback``, scikit-learn >= 1.9) for the fits.

With it, ``SoftmaxRegressionClassifier.set_callbacks(ProgressBar(), ScoringMonitor(...))``
works for every solver. The fit is the root task and each solver iteration one
subtask, as in scikit-learn's ``LogisticRegression`` with ``solver="lbfgs"``
(``sklearn/linear_model/_logistic.py``, ``_LbfgsCallbackBridge``): the first
iteration's subtask begins with the starting coefficients, each iteration ends
its subtask with the new coefficients and begins the next one, and the subtask
left open when the solver stops (an iteration it did not run) ends empty. A
callback's ``on_fit_task_end`` returning True stops the solver after that
iteration. Solvers never see the estimator: they call an ``on_iteration`` hook,
which ``FitCallbacks.iteration`` is.

On older scikit-learn ``CallbackSupportMixin`` is an empty stand-in (the
estimator has no ``set_callbacks``) and ``FitCallbacks`` does nothing.
"""

try:
    from sklearn.callback import CallbackSupportMixin

    HAS_CALLBACKS = True
except ImportError:  # scikit-learn < 1.9
    HAS_CALLBACKS = False

    class CallbackSupportMixin:
        """Stand-in where scikit-learn has no callback API."""


class FitCallbacks:
    """The callback context of one fit, fed by the solver's iterations.

    Create it at the start of ``fit``, before anything the fit may undo: the
    context it opens is what scikit-learn's ``_fit_context`` tears the callbacks
    down with when the fit ends, whether it returns or raises.

    Parameters
    ----------
    estimator : estimator instance
        The estimator being fitted.
    max_iter : int
        The solver's iteration limit (the root task has at most one more subtask).
    """

    def __init__(self, estimator, max_iter):
        self.estimator = estimator
        self.ctx = None
        self.iter_ctx = None
        self.stopped = False
        self.data = {}
        if HAS_CALLBACKS and hasattr(estimator, "_init_callback_context"):
            # Always opened, also without callbacks of its own: inside a
            # meta-estimator it links this fit's task tree to the parent's.
            self.ctx = estimator._init_callback_context(max_subtasks=int(max_iter) + 1)

    @property
    def active(self):
        """Whether iterations are reported (callbacks are set on the estimator)."""
        return self.ctx is not None and bool(getattr(self.estimator, "_skl_callbacks", ()))

    def begin(self, X, y, sample_weight, solver, x0, attributes):
        """Begin the fit task and the first iteration's subtask at ``x0``.

        ``attributes(x)`` maps a flat coefficient vector to the fitted
        attributes an estimator needs to predict (``classes_``, ``coef_``,
        ``intercept_``); it is called only when a callback asks for a
        ``fitted_estimator``.
        """
        if self.ctx is None:
            return
        self.data = {
            "X": X,
            "y": y,
            "metadata": None if sample_weight is None else {"sample_weight": sample_weight},
        }
        self.ctx.call_on_fit_task_begin(estimator=self.estimator, **self.data)
        if self.active:
            self.task_name = f"{solver}-iter"
            self.attributes = attributes
            self.iter_ctx = self._begin_iteration(x0)

    def _begin_iteration(self, x):
        ctx = self.ctx.subcontext(task_name=self.task_name)
        ctx.call_on_fit_task_begin(
            estimator=self.estimator,
            reconstruction_attributes=lambda: self.attributes(x),
            **self.data,
        )
        return ctx

    def iteration(self, it, x, F, grad_norm, step):
        """End the subtask of the iteration that produced ``x`` and begin the next.

        A solver's ``on_iteration`` hook: returns True when a callback asked to stop.
        """
        if self.iter_ctx is None:
            return False
        x = x.copy()
        stop = self.iter_ctx.call_on_fit_task_end(
            estimator=self.estimator,
            reconstruction_attributes=lambda: self.attributes(x),
            **self.data,
        )
        if stop:
            self.iter_ctx, self.stopped = None, True
            return True
        self.iter_ctx = self._begin_iteration(x)
        return False

    def end(self):
        """End the subtask left open and the fit task (the fitted attributes are set)."""
        if self.ctx is None:
            return
        if self.iter_ctx is not None:  # an iteration the solver did not run
            self.iter_ctx.call_on_fit_task_end(estimator=self.estimator)
            self.iter_ctx = None
        self.ctx.call_on_fit_task_end(
            estimator=self.estimator, reconstruction_attributes={}, **self.data
        )
