"""The notebooks run top to bottom (their code cells, in order, in one namespace) and are
committed without outputs."""

import json
import time
import warnings
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


def run_notebook(name):
    """The namespace after running the code cells of ``notebooks/<name>``."""
    path = NOTEBOOKS / name
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells and all(not c["outputs"] and c["execution_count"] is None for c in cells)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # statsmodels' own deprecations
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            try:
                exec(compile(source, f"{path.name} cell {i}", "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"code cell {i} failed:\n{source}") from error
    return namespace


def test_statistics_notebook_runs_and_is_committed_without_outputs():
    pytest.importorskip("statsmodels")
    pytest.importorskip("pandas")
    namespace = run_notebook("statistics.ipynb")
    # What the notebook shows: the parity it claims, and the separation message.
    rel = namespace["rel"]
    assert rel(namespace["res"].bse, namespace["ref"].bse) < 1e-5
    assert rel(namespace["clustered"].bse, namespace["ref_cluster"].bse) < 1e-5
    assert namespace["scaled"].param_names == [*namespace["X"].columns, "const"]


def test_dask_notebook_runs_within_a_minute():
    pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    start = time.perf_counter()
    namespace = run_notebook("dask.ipynb")
    assert time.perf_counter() - start < 60
    # What the notebook shows: the in-memory model, lazily predicted, and a closed cluster.
    assert namespace["diff"] < 1e-6
    assert type(namespace["proba"]).__module__.startswith("dask")
    assert namespace["search"].best_params_["C"] in (0.01, 0.1, 1.0)
    assert namespace["client"].status == "closed"
