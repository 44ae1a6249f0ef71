"""Progress reporting: verbose lines (throttled on a fake clock) and scikit-learn's callbacks."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import make_problem
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss

from softmax_sk import SoftmaxRegressionClassifier, _progress
from softmax_sk._progress import ProgressLog
from softmax_sk._solvers import SOLVERS

SOLVER_NAMES = sorted(SOLVERS)


def _iteration_numbers(out):
    """The iteration numbers of the ``iter`` lines in ``out``, in order."""
    return [int(line.split()[2]) for line in out.splitlines() if line.split()[1:2] == ["iter"]]


def _fake_clock(times):
    ticks = iter(times)
    return lambda: next(ticks)


# -- verbose ------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0.003, 0.03, 0.07, 0.25])
def test_throttle_prints_first_last_and_at_most_rate_per_second(gap, capsys):
    n, rate = 40, 10.0
    times = [gap * k for k in range(n + 2)]  # begin, n iterations, end
    log = ProgressLog("lbfgs", 1, rate=rate, clock=_fake_clock(times))
    log.begin(n_samples=1, n_features=1, n_classes=2, n_coefs=2, tol=1e-4, max_iter=n)
    for it in range(1, n + 1):
        log.iteration(it, None, 1.0, 1.0, 1.0)
    log.end(False, "maximum number of iterations reached", n_iter=n, n_passes=n)
    # Reference: a line whenever 1 / rate seconds have passed since the last one
    # printed, the first always, the last at the end if it was held back.
    expected, last = [], None
    for it in range(1, n + 1):
        if last is None or times[it] - last >= 1 / rate:
            expected.append(it)
            last = times[it]
    if expected[-1] != n:
        expected.append(n)
    printed = _iteration_numbers(capsys.readouterr().out)
    assert printed == expected
    assert printed[0] == 1 and printed[-1] == n
    window = times[n] - times[1]
    assert len(printed) <= 2 + window * rate


def test_verbose_2_prints_every_iteration_with_elapsed_time(capsys):
    times = [10.0, 10.5, 10.5, 12.0, 13.0]
    log = ProgressLog("newton-cg", 2, clock=_fake_clock(times))
    log.begin(n_samples=5, n_features=3, n_classes=4, n_coefs=16, tol=1e-6, max_iter=9)
    for it in (1, 2, 3):
        assert log.iteration(it, None, 1.0, 1.0, 1.0) is False
    log.end(True, "gradient below tol", n_iter=3, n_passes=7)
    lines = capsys.readouterr().out.splitlines()
    assert _iteration_numbers("\n".join(lines)) == [1, 2, 3]
    assert [line.split()[-1] for line in lines[1:4]] == [f"{t - times[0]:.3f}s" for t in times[1:4]]
    assert lines[-1].endswith(f"{times[-1] - times[0]:.3f}s")


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_verbose_fit_prints_header_iterations_and_closing_line(solver, capsys, monkeypatch):
    X, y = make_problem(3)
    monkeypatch.setattr(_progress, "_clock", lambda: 0.0)  # a fast fit: all at once
    clf = SoftmaxRegressionClassifier(solver=solver, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    n_iter = int(clf.n_iter_[0])
    assert n_iter >= 2
    assert all(line.startswith(f"[{solver}] ") for line in lines)
    assert lines[0] == (
        f"[{solver}] {X.shape[0]} samples, {X.shape[1]} features, 3 classes: "
        f"{3 * (X.shape[1] + 1)} coefficients; tol={clf.tol:g}, max_iter={clf.max_iter}"
    )
    assert _iteration_numbers("\n".join(lines)) == [1, n_iter]  # throttled
    assert lines[-1] == (
        f"[{solver}] converged ({clf.convergence_['message']}): {n_iter} iterations, "
        f"{clf._n_passes} data passes, 0.000s"
    )

    ticks = iter(range(10**6))
    monkeypatch.setattr(_progress, "_clock", lambda: float(next(ticks)))  # a slow fit
    clf.fit(X, y)
    assert _iteration_numbers(capsys.readouterr().out) == list(range(1, n_iter + 1))


def test_verbose_closing_line_says_why_a_fit_did_not_converge(capsys):
    X, y = make_problem(3)
    with pytest.warns(ConvergenceWarning):
        SoftmaxRegressionClassifier(solver="lbfgs", max_iter=3, verbose=1).fit(X, y)
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("[lbfgs] did not converge (maximum number of iterations reached): 3 ")


def test_solver_alone_prints_iteration_lines_when_verbose(capsys):
    """Without the estimator's hook the solver's own ``verbose`` prints the lines."""
    from softmax_sk._solvers._base import Monitor

    monitor = Monitor("lbfgs", 1e-4, 2)
    for it in (1, 2):
        monitor.record(it, np.zeros(2), 1.0 / it, np.ones(2), 0.5)
    assert _iteration_numbers(capsys.readouterr().out) == [1, 2]


# -- scikit-learn's callbacks ------------------------------------------------------


def _callback_api():
    return pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9 has no callbacks")


class _Recorder:
    """A FitCallback that keeps what the hooks receive; ``stop_after`` iterations
    (task ids of leaf tasks) end the fit, ``fail_at`` raises there."""

    def __init__(self, stop_after=None, fail_at=None):
        self.stop_after, self.fail_at = stop_after, fail_at
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", None, None))

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("begin", context, _coef(fitted_estimator)))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("end", context, _coef(fitted_estimator)))
        leaf = context.parent is not None
        if leaf and self.fail_at is not None and context.task_id == self.fail_at:
            raise ValueError("callback failed")
        return leaf and self.stop_after is not None and context.task_id + 1 >= self.stop_after

    def teardown(self, estimator, context):
        self.events.append(("teardown", None, None))

    def iterates(self):
        """The coefficients each iteration ended with (not the empty last subtask)."""
        return [
            coef
            for kind, ctx, coef in self.events
            if kind == "end" and ctx.parent is not None and coef is not None
        ]


def _coef(fitted):
    if not hasattr(fitted, "coef_"):  # None, or another step of a pipeline
        return None
    return np.hstack([fitted.coef_, fitted.intercept_[:, None]]), fitted


def _objective(fitted, X, y, C=1.0):
    """LogisticRegression's objective at a fitted model, from its probabilities."""
    proba = fitted.predict_proba(X)
    ce = -np.log(proba[np.arange(y.size), np.searchsorted(fitted.classes_, y)])
    return C * ce.sum() + 0.5 * np.sum(fitted.coef_**2)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_callback_sees_every_iterate_from_the_start_to_the_fitted_model(solver):
    _callback_api()
    X, y = make_problem(3)
    rec = _Recorder()
    clf = SoftmaxRegressionClassifier(solver=solver).set_callbacks(rec).fit(X, y)
    n_iter = int(clf.n_iter_[0])
    kinds = [kind for kind, _, _ in rec.events]
    # setup, the fit begins, n_iter + 1 subtasks (the last one empty), the fit ends.
    assert kinds == ["setup", "begin"] + ["begin", "end"] * (n_iter + 1) + ["end", "teardown"]
    leaves = [ctx for kind, ctx, _ in rec.events if kind == "end" and ctx.parent is not None]
    assert [ctx.task_id for ctx in leaves] == list(range(n_iter + 1))
    assert {ctx.task_name for ctx in leaves} == {f"{solver}-iter"}
    first_begin = rec.events[2][2][0]
    assert not first_begin.any()  # the first iteration starts at zero
    iterates = rec.iterates()
    assert len(iterates) == n_iter
    assert_array_equal(iterates[-1][0], np.hstack([clf.coef_, clf.intercept_[:, None]]))
    values = [_objective(fitted, X, y) for _, fitted in iterates]
    assert np.all(np.diff(values) <= 1e-9 * abs(values[0]))  # a descent, iterate by iterate
    assert not hasattr(clf, "_callback_fit_ctx")


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_scoring_monitor_logs_one_score_per_iteration(solver):
    callback = _callback_api()
    X, y = make_problem(3)
    monitor = callback.ScoringMonitor(scoring="neg_log_loss")
    clf = SoftmaxRegressionClassifier(solver=solver).set_callbacks(monitor).fit(X, y)
    rows = monitor.get_logs().data
    iterations = [row for row in rows if row["task_name"] == f"{solver}-iter"]
    assert [row["task_id"] for row in iterations] == list(range(clf.n_iter_[0]))
    final = -log_loss(y, clf.predict_proba(X))
    assert iterations[-1]["neg_log_loss"] == pytest.approx(final, rel=1e-12)
    assert [row["neg_log_loss"] for row in rows if row["task_name"] == "fit"] == pytest.approx(
        [final], rel=1e-12
    )
    assert iterations[0]["neg_log_loss"] < final  # the scores are the iterates', not the end's


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_progress_bar_advances_one_step_per_iteration(solver, capsys):
    callback = _callback_api()
    pytest.importorskip("rich")
    from sklearn.callback._progressbar import RichProgressMonitor

    progress = []
    original = RichProgressMonitor._on_task_end

    def recording(self, task_info):
        original(self, task_info)
        progress.append(self.root_rich_task.progress)

    X, y = make_problem(4)
    clf = SoftmaxRegressionClassifier(solver=solver, max_iter=50)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RichProgressMonitor, "_on_task_end", recording)
        clf.set_callbacks(callback.ProgressBar()).fit(X, y)
    n_iter, total = int(clf.n_iter_[0]), clf.max_iter + 1
    # One step per iteration, one for the subtask left open, 100% when the fit ends.
    expected = [k / total for k in range(1, n_iter + 2)] + [1.0]
    assert progress == pytest.approx(expected)
    assert "SoftmaxRegressionClassifier - fit" in capsys.readouterr().out


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_callback_stops_the_fit_where_max_iter_would(solver):
    _callback_api()
    X, y = make_problem(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegressionClassifier(solver=solver).set_callbacks(_Recorder(stop_after=2))
        clf.fit(X, y)
    assert clf.n_iter_[0] == 2
    assert clf.convergence_["message"] == "stopped by a callback"
    assert not clf.convergence_["converged"]
    with pytest.warns(ConvergenceWarning):
        ref = SoftmaxRegressionClassifier(solver=solver, max_iter=2).fit(X, y)
    assert_array_equal(clf.coef_, ref.coef_)
    assert_array_equal(clf.intercept_, ref.intercept_)


def test_failing_callback_tears_down_and_leaves_the_estimator_unfitted():
    _callback_api()
    X, y = make_problem(3)
    rec = _Recorder(fail_at=1)
    clf = SoftmaxRegressionClassifier().set_callbacks(rec)
    before = dict(vars(clf))
    with pytest.raises(ValueError, match="callback failed"):
        clf.fit(X, y)
    assert rec.events[-1][0] == "teardown"
    assert vars(clf).keys() == before.keys()


def test_without_the_callback_api_fits_and_prints_as_usual():
    """scikit-learn < 1.9 (the import of the callback API made to fail): no
    set_callbacks, and fitting, verbose lines and cloning work."""
    _callback_api()
    code = textwrap.dedent(
        """
        import builtins
        real_import = builtins.__import__

        def no_callback_api(name, globals=None, *args):
            # softmax_sk's import of the callback API fails, as on older
            # scikit-learn; scikit-learn's own imports of it still work.
            if name == "sklearn.callback" and (globals or {}).get("__name__") == (
                "softmax_sk._callbacks"
            ):
                raise ImportError("no sklearn.callback")
            return real_import(name, globals, *args)

        builtins.__import__ = no_callback_api
        from sklearn.base import clone
        from sklearn.datasets import load_iris
        from softmax_sk import SoftmaxRegressionClassifier
        from softmax_sk import _callbacks
        assert not _callbacks.HAS_CALLBACKS
        assert not hasattr(SoftmaxRegressionClassifier(), "set_callbacks")
        X, y = load_iris(return_X_y=True)
        clf = clone(SoftmaxRegressionClassifier(verbose=1)).fit(X, y)
        print("n_iter", clf.n_iter_[0], clf.convergence_["converged"])
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    n_iter = int(lines[-1].split()[1])
    assert lines[-1] == f"n_iter {n_iter} True"
    assert lines[-2].startswith("[newton-cg] converged") and f" {n_iter} iterations" in lines[-2]


def test_callback_set_on_a_pipeline_follows_the_iterations_of_its_step():
    _callback_api()
    from sklearn.callback._callback_context import get_context_path
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    class Propagated(_Recorder):
        max_propagation_depth = None  # scikit-learn hands it to the pipeline's steps

    X, y = make_problem(3)
    rec = Propagated()
    pipe = make_pipeline(StandardScaler(), SoftmaxRegressionClassifier()).set_callbacks(rec)
    pipe.fit(X, y)
    solver = pipe[-1].solver_
    paths = [
        [(c.estimator_name, c.task_name) for c in get_context_path(ctx)]
        for kind, ctx, _ in rec.events
        if kind == "end" and ctx.task_name == f"{solver}-iter"
    ]
    assert len(paths) == pipe[-1].n_iter_[0] + 1
    assert all(
        path == [("Pipeline", "fit"), ("SoftmaxRegressionClassifier", "fit"), path[-1]]
        for path in paths
    )


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_reporting_changes_neither_iterates_nor_passes(solver, capsys):
    """verbose lines and callbacks only watch: the same coefficients, iterations, data
    passes and convergence report as a silent fit, bit for bit."""
    X, y = make_problem(4)
    silent = SoftmaxRegressionClassifier(solver=solver, tol=1e-8).fit(X, y)
    watched = [SoftmaxRegressionClassifier(solver=solver, tol=1e-8, verbose=2)]
    if _has_callback_api():
        watched.append(
            SoftmaxRegressionClassifier(solver=solver, tol=1e-8).set_callbacks(_Recorder())
        )
    for clf in watched:
        clf.fit(X, y)
        assert_array_equal(clf.coef_, silent.coef_)
        assert_array_equal(clf.intercept_, silent.intercept_)
        assert clf.n_iter_[0] == silent.n_iter_[0] and clf._n_passes == silent._n_passes
        # (nan-aware: proxnewton reports no suboptimality estimate)
        np.testing.assert_equal(clf.convergence_, silent.convergence_)
    assert capsys.readouterr().out  # the verbose fit did print


def _has_callback_api():
    try:
        import sklearn.callback  # noqa: F401
    except ImportError:
        return False
    return True
