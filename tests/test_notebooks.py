"""The notebooks run top to bottom (their code cells, in order, in one namespace)."""

import warnings
from pathlib import Path

import pytest
from conftest import run_notebook

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "statistics.ipynb"


def test_statistics_notebook_runs_and_is_committed_without_outputs():
    pytest.importorskip("statsmodels")
    pytest.importorskip("pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # statsmodels' own deprecations
        namespace = run_notebook(NOTEBOOK)
    # What the notebook shows: the parity it claims, and the separation message.
    rel = namespace["rel"]
    assert rel(namespace["res"].bse, namespace["ref"].bse) < 1e-5
    assert rel(namespace["clustered"].bse, namespace["ref_cluster"].bse) < 1e-5
    assert namespace["scaled"].param_names == [*namespace["X"].columns, "const"]


STREAMING = Path(__file__).parents[1] / "notebooks" / "streaming.ipynb"


def test_streaming_notebook_runs_and_shows_what_it_claims():
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the 5-epoch sgd fit
        namespace = run_notebook(STREAMING)
    acc = namespace["acc"]
    assert abs(acc["stream"] - acc["batch"]) < 0.01
    assert abs(acc["fit(solver='sgd')"] - acc["batch"]) < 0.005
    assert namespace["identical"]
    assert namespace["acc_sampled"] > namespace["acc_full"] - 0.01
    assert namespace["t_full"] > 2 * namespace["t_sampled"]
