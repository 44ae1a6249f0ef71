"""The benchmark scripts run end to end on tiny sizes (timings are never asserted)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
pytest.importorskip("matplotlib")
pytest.importorskip("threadpoolctl")


def test_bench_fit_writes_json_markdown_and_plot(tmp_path, monkeypatch):
    import bench_fit

    args = "--datasets dense_100k_100,sparse_100k_50k --dtypes float32 --scale 0.004"
    monkeypatch.setattr(bench_fit, "TIMED_SECONDS", 0.0)  # one timed fit each: a quick test
    monkeypatch.setattr(bench_fit, "PAUSE_SECONDS", 0.0)
    bench_fit.main(
        [*args.split(), "--repeats", "1", "--sklearn-solvers", "lbfgs", "--out", str(tmp_path)]
    )
    data = json.loads((tmp_path / "fit.json").read_text())
    assert data["meta"]["cpu_count"] >= 1 and data["meta"]["blas"]
    first = data["results"][0]
    assert first["rows"][0]["contender"] == "softmax-sk auto"
    assert all(r["reached"] for r in first["rows"])
    assert first["rows"][0]["coef_dtype"] == "float32"
    assert (tmp_path / "fit.md").read_text().count("|") > 20
    assert (tmp_path / "fit.png").stat().st_size > 0


def test_bench_eval_runs(tmp_path):
    import bench_eval

    compiled = bench_eval._softmax._kernels is not None
    rows = bench_eval.main(["--n", "400", "--repeats", "1", "--out", str(tmp_path)])
    assert len(rows) == 6 and all(r["softmax_sk_s"] > 0 for r in rows)
    # numpy's softmax is timed next to the compiled kernels when they are built.
    for r in rows:
        assert (r["softmax_sk_numpy_s"] is not None) == compiled
    assert (bench_eval._softmax._kernels is not None) == compiled  # restored
    assert (tmp_path / "eval.md").read_text().count("\n|") == 8


def test_bench_threads_runs_both_patterns(tmp_path):
    import bench_threads

    args = "--datasets dense_100k_100,sparse_100k_50k --dtypes float32 --scale 0.004"
    results = bench_threads.main([*args.split(), "--repeats", "1", "--out", str(tmp_path)])
    assert [r["sparse"] for r in results] == [False, True]
    for r in results:
        for pattern in bench_threads.PATTERNS:
            assert r[pattern]["one_thread_s"] > 0 and r[pattern]["all_cores_s"] > 0
    data = json.loads((tmp_path / "threads.json").read_text())
    assert data["meta"]["cpu_count"] >= 1 and len(data["results"]) == 2
    assert (tmp_path / "threads.md").read_text().count("\n|") == 4  # header, rule, 2 rows


# At this tiny scale the K sweep has more classes than half its samples.
@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_bench_scaling_writes_slopes_and_plot(tmp_path):
    import bench_scaling

    args = "--scale 0.002 --max-n 100000 --repeats 1 --sklearn-solvers lbfgs"
    results = bench_scaling.main([*args.split(), "--out", str(tmp_path)])
    assert set(results) == {"n", "d", "K"}
    for res in results.values():
        assert set(res["slopes"]) == {"softmax-sk", "sklearn lbfgs"}
        assert all(np.isfinite(s) for s in res["slopes"].values())
        assert min(p["fits"]["softmax-sk"]["gap"] for p in res["points"]) >= 0
    assert json.loads((tmp_path / "scaling.json").read_text())["meta"]["cpu_count"] >= 1
    assert "slope" in (tmp_path / "scaling.md").read_text()
    assert (tmp_path / "scaling.png").stat().st_size > 0


def test_bench_dtype_times_both_dtypes_in_the_same_rounds(tmp_path, monkeypatch):
    import bench_dtype
    import bench_fit

    monkeypatch.setattr(bench_fit, "TIMED_SECONDS", 0.0)
    monkeypatch.setattr(bench_fit, "PAUSE_SECONDS", 0.0)
    args = "--datasets dense_100k_100,mnist_50k_784 --scale 0.004 --repeats 2 --out"
    results = bench_dtype.main([*args.split(), str(tmp_path), "--sklearn-solvers", "lbfgs"])
    assert [r["dataset"] for r in results] == ["dense_100k_100", "mnist_50k_784"]
    for res in results:
        assert [r["contender"] for r in res["rows"]] == ["softmax-sk auto", "sklearn lbfgs"]
        for r in res["rows"]:
            for dtype in bench_dtype.DTYPES:
                assert r[dtype]["coef_dtype"] == dtype  # no upcast: a real float32 fit
                assert r[dtype]["reached"] and r[dtype]["runs"] == 2
            assert r["speedup"] == r["float64"]["seconds"] / r["float32"]["seconds"]
    data = json.loads((tmp_path / "dtype.json").read_text())
    assert data["meta"]["target_suboptimality"] == 1e-6
    assert (tmp_path / "dtype.md").read_text().count("\n|") == 6  # header, rule, 4 rows


def test_bench_inference_runs(tmp_path):
    pytest.importorskip("statsmodels")
    import bench_inference

    results = bench_inference.main(["--sizes", "600x3x3", "--repeats", "1", "--out", str(tmp_path)])
    (row,) = results
    assert row["n_params"] == 8 and row["inference_s"] > 0 and row["statsmodels_s"] > 0
    assert row["bse_max_rel_diff"] < 1e-4
    data = json.loads((tmp_path / "inference.json").read_text())
    assert data["meta"]["statsmodels"] and len(data["results"]) == 1
    assert (tmp_path / "inference.md").read_text().count("\n|") == 3  # header, rule, 1 row
