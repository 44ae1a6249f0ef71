"""Solvers: each takes an ``Objective`` and returns a ``SolverResult``.

A solver is a function ``solve(obj, x0, *, tol, max_iter, verbose)``; it uses
only the objective's callables named in its module docstring and knows nothing
of the estimator. Adding one is a new module and one line in ``SOLVERS``.
"""

from ._base import SolverResult
from ._lbfgs import lbfgs
from ._newton import newton_cg

# name -> (function, handles an L1 term). "owlqn" is the orthant-wise mode of
# the L-BFGS code; "lbfgs" refuses an L1 term, as scikit-learn's does.
SOLVERS = {
    "lbfgs": (lbfgs, False),
    "newton-cg": (newton_cg, True),
    "owlqn": (lbfgs, True),
}

# Up to this many coefficients a Newton iteration (CG on Hessian-vector
# products) is cheap next to the passes it saves; above it L-BFGS wins on dense
# data. From benchmarks/bench_fit.py (time to 1e-6 suboptimality): newton-cg beat
# lbfgs on digits (650 coefficients, 0.050 s vs 0.066 s) and lost on 8000 x 100,
# K=10 (1010 coefficients, 0.104 s vs 0.059 s).
_NEWTON_MAX_SIZE = 1000


def choose_solver(n_coefs, has_l1, sparse=False):
    """The solver ``solver="auto"`` runs: the rule is documented in the README.

    * at most ``_NEWTON_MAX_SIZE`` coefficients: ``"newton-cg"`` (orthant-wise
      with an L1 term);
    * sparse X without an L1 term: ``"newton-cg"``. Text-like data has many
      rarely seen features, which leave the problem ill-conditioned; there
      Newton's iterations pay off, as LIBLINEAR found for its trust-region
      Newton solver (Lin, Weng & Keerthi, JMLR 2008). On the benchmark's
      16000 x 10000 CSR problem (K=20) newton-cg reached 1e-6 suboptimality in
      26 passes, lbfgs in 48;
    * otherwise ``"owlqn"`` with an L1 term, ``"lbfgs"`` without.
    """
    if n_coefs <= _NEWTON_MAX_SIZE or (sparse and not has_l1):
        return "newton-cg"
    return "owlqn" if has_l1 else "lbfgs"


__all__ = ["SOLVERS", "SolverResult", "choose_solver"]
