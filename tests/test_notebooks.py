"""The notebooks run top to bottom (their code cells, in order, in one namespace)."""

import time
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


def test_dask_notebook_runs_within_a_minute():
    pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    start = time.perf_counter()
    namespace = run_notebook(NOTEBOOK.parent / "dask.ipynb")
    assert time.perf_counter() - start < 60
    # What the notebook shows: the in-memory model, lazily predicted, and a closed cluster.
    assert namespace["diff"] < 1e-6
    assert type(namespace["proba"]).__module__.startswith("dask")
    assert namespace["search"].best_params_["C"] in (0.01, 0.1, 1.0)
    assert namespace["client"].status == "closed"
