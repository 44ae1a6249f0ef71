"""notebooks/statistics.ipynb runs top to bottom (its code cells, in order, in one namespace)."""

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
