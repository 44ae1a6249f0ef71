"""The notebooks run top to bottom (their code cells, in order, in one namespace)."""

import json
import warnings
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "statistics.ipynb"
STREAMING = Path(__file__).parents[1] / "notebooks" / "streaming.ipynb"


def run_notebook(path, ignore):
    """The namespace after running ``path``'s code cells, warnings of category ``ignore``
    silenced; checks that the notebook is committed without outputs."""
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells and all(not c["outputs"] and c["execution_count"] is None for c in cells)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ignore)
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
    namespace = run_notebook(NOTEBOOK, FutureWarning)  # statsmodels' own deprecations
    # What the notebook shows: the parity it claims, and the separation message.
    rel = namespace["rel"]
    assert rel(namespace["res"].bse, namespace["ref"].bse) < 1e-5
    assert rel(namespace["clustered"].bse, namespace["ref_cluster"].bse) < 1e-5
    assert namespace["scaled"].param_names == [*namespace["X"].columns, "const"]


def test_streaming_notebook_runs_and_shows_what_it_claims():
    from sklearn.exceptions import ConvergenceWarning

    namespace = run_notebook(STREAMING, ConvergenceWarning)  # the 5-epoch sgd fit
    acc = namespace["acc"]
    assert abs(acc["stream"] - acc["batch"]) < 0.01
    assert abs(acc["fit(solver='sgd')"] - acc["batch"]) < 0.005
    assert namespace["identical"]
    assert namespace["acc_sampled"] > namespace["acc_full"] - 0.01
    assert namespace["t_full"] > 2 * namespace["t_sampled"]
