"""Progress lines of one fit on stdout (``verbose > 0``).

A fit prints a header (the solver, the problem's size, ``tol``), one line per
solver iteration (objective, gradient max-norm, step, seconds since the start)
and a closing line (converged or not and why, iterations, data passes, time).
With ``verbose=1`` iteration lines are throttled to at most ``rate`` a second,
so that a fast fit of thousands of iterations does not flood the terminal: the
first is always printed, a later one when at least ``1 / rate`` seconds have
passed since the last printed one, and the last one, if it was held back, just
before the closing line. ``verbose >= 2`` prints every iteration.
"""

import time


def _clock():
    return time.perf_counter()


class ProgressLog:
    """The progress lines of one solver run, printed as they come.

    Parameters
    ----------
    name : str
        The solver, printed at the start of every line.
    verbose : int, default=1
        1: iteration lines throttled; 2 or more: every iteration.
    rate : float, default=10.0
        Iteration lines a second at most with ``verbose=1``.
    clock : callable, default=None
        Seconds as a float (``time.perf_counter`` when None); tests pass a fake.

    Examples
    --------
    >>> from softmax_sk._progress import ProgressLog
    >>> ticks = iter([0.0, 0.5, 1.25])
    >>> log = ProgressLog("lbfgs", 2, clock=lambda: next(ticks))
    >>> log.begin(n_samples=6, n_features=2, n_classes=2, n_coefs=3, tol=1e-4, max_iter=10)
    [lbfgs] 6 samples, 2 features, 2 classes: 3 coefficients; tol=0.0001, max_iter=10
    >>> log.iteration(1, None, 0.5, 0.25, 1.0)
    [lbfgs] iter    1  objective 5.0000000000e-01  |grad|_max 2.500e-01  step 1.000e+00  0.500s
    False
    >>> log.end(True, "gradient below tol", n_iter=1, n_passes=3)
    [lbfgs] converged (gradient below tol): 1 iterations, 3 data passes, 1.250s
    """

    def __init__(self, name, verbose=1, *, rate=10.0, clock=None):
        self.name = name
        self.every = verbose >= 2
        self.interval = 1.0 / rate
        self.clock = _clock if clock is None else clock
        self.start = None
        self.last_printed = None  # clock at the last printed iteration line
        self.held = None  # the last iteration line, when it was held back

    def _print(self, text):
        print(f"[{self.name}] {text}", flush=True)

    def begin(self, *, n_samples, n_features, n_classes, n_coefs, tol, max_iter):
        """Print the header and start the clock."""
        self.start = self.clock()
        self._print(
            f"{n_samples} samples, {n_features} features, {n_classes} classes: "
            f"{n_coefs} coefficients; tol={tol:g}, max_iter={max_iter}"
        )

    def iteration(self, it, x, F, grad_norm, step):
        """Report iteration ``it`` (a solver's ``on_iteration`` hook; ``x`` is unused).

        Returns False: progress lines never stop a fit.
        """
        now = self.clock()
        if self.start is None:  # no header: time from the first iteration
            self.start = now
        line = (
            f"iter {it:4d}  objective {F:.10e}  |grad|_max {grad_norm:.3e}  "
            f"step {step:.3e}  {now - self.start:.3f}s"
        )
        if self.every or self.last_printed is None or now - self.last_printed >= self.interval:
            self._print(line)
            self.last_printed, self.held = now, None
        else:
            self.held = line
        return False

    def end(self, converged, message, *, n_iter, n_passes):
        """Print the last iteration line if it was held back, then the closing line."""
        if self.held is not None:
            self._print(self.held)
            self.held = None
        now = self.clock()
        elapsed = now - (now if self.start is None else self.start)
        outcome = "converged" if converged else "did not converge"
        passes = "" if n_passes is None else f", {n_passes} data passes"  # sgd counts none
        self._print(f"{outcome} ({message}): {n_iter} iterations{passes}, {elapsed:.3f}s")
