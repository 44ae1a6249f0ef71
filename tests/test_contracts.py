"""The declared contracts between the parts hold: solvers use what they declare."""

import ast
import inspect

import pytest

from softmax_sk import _objective, _solvers
from softmax_sk._solvers import SOLVERS
from softmax_sk._solvers._base import Objective


def _protocol_members(protocol):
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}
    return names


def _attributes_read(module, owner):
    """Names read as ``<x>.<name>`` in a module, for the ``<x>`` nodes ``owner`` accepts."""
    tree = ast.parse(inspect.getsource(module))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and owner(node.value)
    }


def _used_on_obj(module):
    """Names read as ``obj.<name>``."""
    return _attributes_read(module, lambda x: isinstance(x, ast.Name) and x.id == "obj")


def _imported(module):
    """The modules a module imports from (``from . import x`` counts as ``x``)."""
    return {
        name
        for node in ast.walk(ast.parse(inspect.getsource(module)))
        if isinstance(node, ast.ImportFrom)
        for name in ([node.module] if node.module else [alias.name for alias in node.names])
    }


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_each_solver_declares_exactly_what_it_uses(name):
    """What it reads on ``obj``, and what the solver modules it hands ``obj`` to declare
    (lbfgs's stops are confirmed by ``_newton.confirm``)."""
    entry = SOLVERS[name]
    module = inspect.getmodule(entry.function)
    used = _used_on_obj(module)
    if "_newton" in _imported(module):
        used |= _solvers._newton.NEEDS
    assert used == entry.needs
    assert entry.needs <= _protocol_members(Objective)


def test_shared_solver_code_never_reads_the_objective():
    """The line search and epilogue take callables, so NEEDS lists are complete."""
    assert _used_on_obj(_solvers._base) == set()


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_solvers_know_nothing_of_softmax_or_the_estimator(name):
    module = inspect.getmodule(SOLVERS[name].function)
    imported = _imported(module)
    assert imported <= {"_base", "_newton", "collections", "dataclasses", "typing"}, imported


def test_the_objective_provides_the_protocol():
    import numpy as np

    from softmax_sk._layout import Layout
    from softmax_sk._loss import SoftmaxLoss
    from softmax_sk._penalty import ElasticNet

    layout = Layout(2, 3, True)
    loss = SoftmaxLoss(np.eye(3, 2), np.arange(3), np.ones(3), layout)
    obj = _objective.Objective(loss, ElasticNet(0.1, 0.1, layout.penalized()))
    assert all(hasattr(obj, name) for name in _protocol_members(Objective))


def test_the_softmax_loss_provides_the_data_term_protocol():
    import numpy as np

    from softmax_sk._layout import Layout
    from softmax_sk._loss import DataTerm, SoftmaxLoss

    loss = SoftmaxLoss(np.eye(3, 2), np.arange(3), np.ones(3), Layout(2, 3, True))
    assert all(hasattr(loss, name) for name in _protocol_members(DataTerm))
    assert _used_on_loss(_objective) <= _protocol_members(DataTerm)


def _used_on_loss(module):
    """Names the objective reads as ``self.loss.<name>``."""
    return _attributes_read(module, lambda x: isinstance(x, ast.Attribute) and x.attr == "loss")
