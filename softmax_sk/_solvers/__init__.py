"""Solvers: each takes an ``Objective`` (``_base.Objective``) and returns a ``SolverResult``.

A solver is a function
``solve(obj, x0, *, tol, max_iter, verbose, on_iteration=None, **options)``
that uses only the names of the objective it lists in its module's ``NEEDS`` and
knows nothing of the estimator or of softmax. It reports each iteration through
``_base.Monitor``: to ``on_iteration``, the caller's hook, or as lines on stdout
when ``verbose`` and there is no hook. Adding one is a new module and
one entry in ``SOLVERS``.
"""

from typing import NamedTuple

from . import _lbfgs, _lbfgsb, _newton, _proxqn
from ._base import Objective, SolverResult


class Solver(NamedTuple):
    function: object
    handles_l1: bool  # whether it minimises objectives with an L1 term
    needs: frozenset  # the names of the objective it uses
    options: tuple = ()  # keyword options besides tol, max_iter, verbose, on_iteration
    handles_bounds: bool = False  # whether it keeps w inside obj.bounds
    handles_grouped: bool = False  # whether it minimises the grouped lasso (through prox)


# "owlqn" is the orthant-wise mode of the L-BFGS code; "lbfgs" refuses an L1 term,
# as scikit-learn's does.
SOLVERS = {
    "lbfgs": Solver(_lbfgs.lbfgs, False, _lbfgs.NEEDS, ("refresh_every", "target")),
    "newton-cg": Solver(_newton.newton_cg, True, _newton.NEEDS, ("target",)),
    "owlqn": Solver(_lbfgs.lbfgs, True, _lbfgs.NEEDS, ("refresh_every", "target")),
    "lbfgsb": Solver(_lbfgsb.lbfgsb, True, _lbfgsb.NEEDS, ("refresh_every", "target"), True),
    "proxqn": Solver(_proxqn.proxqn, True, _proxqn.NEEDS, ("target",), handles_grouped=True),
    "proxnewton": Solver(
        _proxqn.proxnewton, True, _proxqn.NEEDS, ("target",), handles_grouped=True
    ),
}

# Up to this many coefficients a Newton iteration (CG on Hessian-vector
# products) is cheap next to the passes it saves; above it L-BFGS wins on dense
# data (benchmarks/results/notes.md).
_NEWTON_MAX_SIZE = 1000
# Up to this many coefficients the grouped lasso is fitted by proximal Newton: a few
# iterations to a tight optimum at a cost that does not matter; above it proxqn
# takes fewer passes (benchmarks/results/grouped.md).
_PROXNEWTON_MAX_SIZE = 200


def choose_solver(n_coefs, has_l1, sparse=False, bounded=False, grouped=False):
    """The solver ``solver="auto"`` runs (the rule is documented in the README).

    * a grouped lasso (``grouped`` with an L1 term): ``"proxnewton"`` for at
      most ``_PROXNEWTON_MAX_SIZE`` coefficients, where its few, tight
      iterations cost little, else ``"proxqn"``, which took 0.46-0.74x its
      passes on digits and a 3000 x 100, K=10 problem at ``tol=1e-6``
      (``benchmarks/results/grouped.md``);
    * box constraints (``bounded``): ``"lbfgsb"``, the one that handles them;

    * at most ``_NEWTON_MAX_SIZE`` coefficients: ``"newton-cg"`` (orthant-wise
      with an L1 term);
    * sparse X without an L1 term: ``"newton-cg"``: text-like data has many
      rarely seen features, which leave the problem ill-conditioned, and there
      Newton's iterations pay off, as LIBLINEAR found for its trust-region
      Newton solver (Lin, Weng & Keerthi, JMLR 2008);
    * otherwise ``"owlqn"`` with an L1 term, ``"lbfgs"`` without.
    """
    if grouped and has_l1:
        return "proxnewton" if n_coefs <= _PROXNEWTON_MAX_SIZE else "proxqn"
    if bounded:
        return "lbfgsb"
    if n_coefs <= _NEWTON_MAX_SIZE or (sparse and not has_l1):
        return "newton-cg"
    return "owlqn" if has_l1 else "lbfgs"


__all__ = ["SOLVERS", "Objective", "Solver", "SolverResult", "choose_solver"]
