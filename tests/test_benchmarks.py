"""The benchmark scripts run end to end on tiny sizes (timings are never asserted).

Each script runs once, at the smallest sizes its options allow, with bench_fit's
timing constants at zero where it times fits in rounds; the tests check what it
returns and what it writes.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
pytest.importorskip("matplotlib")
pytest.importorskip("threadpoolctl")


@pytest.fixture(autouse=True)
def blas_one_thread():
    """BLAS on one thread: at these sizes each product is microseconds, and BLAS's threads
    waiting on each other on a loaded 2-core machine made the tests several times slower
    (timings are not asserted; the scripts' code paths are the same)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def quick_rounds(monkeypatch):
    """One timed fit per repeat, with no idle time before it."""
    import bench_fit

    monkeypatch.setattr(bench_fit, "TIMED_SECONDS", 0.0)
    monkeypatch.setattr(bench_fit, "PAUSE_SECONDS", 0.0)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """benchmarks/runs/, where a run without --out writes, moved to a temporary folder."""
    import bench_fit

    monkeypatch.setattr(bench_fit, "RUNS", tmp_path / "runs")
    return tmp_path / "runs"


def test_bench_fit_writes_json_markdown_and_plot(tmp_path, quick_rounds):
    import bench_fit

    args = "--datasets dense_100k_100,sparse_100k_50k --dtypes float32 --scale 0.002"
    bench_fit.main(
        [*args.split(), "--repeats", "1", "--sklearn-solvers", "lbfgs", "--out", str(tmp_path)]
    )
    data = json.loads((tmp_path / "fit.json").read_text())
    assert data["meta"]["cpu_count"] >= 1 and data["meta"]["blas"]
    assert [(r["dataset"], r["dtype"]) for r in data["results"]] == [
        ("dense_100k_100", "float32"),
        ("sparse_100k_50k", "float32"),
    ]
    for res in data["results"]:
        assert res["rows"][0]["contender"] == "softmax-sk auto"
        assert res["rows"][-1]["contender"] == "sklearn lbfgs (scipy BLAS 1 thread)"
        assert all(r["reached"] for r in res["rows"])
        assert res["rows"][0]["coef_dtype"] == "float32"
        assert np.isfinite(res["ratio_vs_fastest_sklearn"])
    assert (tmp_path / "fit.md").read_text().count("### ") == 2
    assert (tmp_path / "fit.md").read_text().count("|") > 20
    assert (tmp_path / "fit.png").stat().st_size > 0


def test_bench_eval_runs_and_writes_to_a_fresh_folder_by_default(runs, capsys):
    import bench_eval

    compiled = bench_eval._softmax._kernels is not None
    rows = bench_eval.main(["--n", "400", "--repeats", "1"])  # no --out
    assert len(rows) == 6 and all(r["softmax_sk_s"] > 0 for r in rows)
    # numpy's softmax is timed next to the compiled kernels when they are built.
    for r in rows:
        assert (r["softmax_sk_numpy_s"] is not None) == compiled
    assert (bench_eval._softmax._kernels is not None) == compiled  # restored
    [out] = runs.iterdir()
    assert out.name.startswith("bench_eval-")
    assert (out / "eval.md").read_text().count("\n|") == 8
    assert json.loads((out / "eval.json").read_text())["rows"] == rows
    first, *_, last = capsys.readouterr().out.splitlines()  # the folder, at start and end
    assert first.startswith("bench_eval: writing results to") and first.endswith(out.name)
    assert last.startswith("bench_eval: results in") and last.endswith(out.name)


def test_default_folders_are_fresh_and_explicit_ones_are_reused(runs, tmp_path):
    import bench_fit

    folders = []
    for _ in range(2):  # within the same second: still two folders
        with bench_fit.output_folder(None, "fit") as out:
            (out / "fit.md").write_text("first")
            folders.append(out)
    assert folders[0] != folders[1] and sorted(runs.iterdir()) == sorted(folders)
    assert all(f.name.startswith("bench_fit-") for f in folders)
    with bench_fit.output_folder(str(folders[0]), "fit") as out:  # --out: that folder
        assert out == folders[0] and (out / "fit.md").read_text() == "first"
    with bench_fit.output_folder(str(tmp_path / "new" / "results"), "fit") as out:
        assert out.is_dir()


def test_the_recorded_command_is_the_one_to_run_from_the_root(monkeypatch):
    import bench_fit

    assert bench_fit.command_line(["--n", "1"]) == "main(['--n', '1'])"
    monkeypatch.chdir(ROOT / "benchmarks")
    monkeypatch.setattr(sys, "argv", ["bench_dtype.py", "--scale", "0.2", "--out", "a b"])
    expected = "python benchmarks/bench_dtype.py --scale 0.2 --out 'a b'"
    assert bench_fit.command_line() == expected


def test_a_script_runs_from_the_root(tmp_path):
    command = ["benchmarks/bench_eval.py", "--n", "200", "--repeats", "1", "--out", str(tmp_path)]
    subprocess.run([sys.executable, *command], cwd=ROOT, check=True, capture_output=True)
    meta = json.loads((tmp_path / "eval.json").read_text())["meta"]
    assert meta["command"] == "python " + " ".join(command)


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


def test_bench_scaling_writes_slopes_and_plot(tmp_path):
    import bench_scaling

    args = "--scale 0.002 --max-n 30000 --max-d 30 --max-k 10 --repeats 1 --sklearn-solvers lbfgs"
    results = bench_scaling.main([*args.split(), "--out", str(tmp_path)])
    assert set(results) == {"n", "d", "K"}
    assert [p["n"] for p in results["n"]["points"]] == [50, 60]  # 0.002 * n, at least 50
    assert [p["d"] for p in results["d"]["points"]] == [10, 30]
    assert [p["k"] for p in results["K"]["points"]] == [2, 10]
    for res in results.values():
        assert set(res["slopes"]) == {"softmax-sk", "sklearn lbfgs"}
        assert all(np.isfinite(s) for s in res["slopes"].values())
        assert min(p["fits"]["softmax-sk"]["gap"] for p in res["points"]) >= 0
    assert json.loads((tmp_path / "scaling.json").read_text())["meta"]["cpu_count"] >= 1
    assert (tmp_path / "scaling.md").read_text().count("slope of log(time)") == 3
    assert (tmp_path / "scaling.png").stat().st_size > 0


def test_bench_dtype_times_both_dtypes_in_the_same_rounds(tmp_path, quick_rounds):
    import bench_dtype

    args = "--datasets dense_100k_100 --scale 0.004 --repeats 2 --sklearn-solvers lbfgs --out"
    results = bench_dtype.main([*args.split(), str(tmp_path)])
    assert [r["dataset"] for r in results] == ["dense_100k_100"]
    for res in results:
        assert [r["contender"] for r in res["rows"]] == ["softmax-sk auto", "sklearn lbfgs"]
        for r in res["rows"]:
            for dtype in bench_dtype.DTYPES:
                assert r[dtype]["coef_dtype"] == dtype  # no upcast: a real float32 fit
                assert r[dtype]["reached"] and r[dtype]["runs"] == 2
            assert r["speedup"] == r["float64"]["seconds"] / r["float32"]["seconds"]
    data = json.loads((tmp_path / "dtype.json").read_text())
    assert data["meta"]["target_suboptimality"] == 1e-6
    assert (tmp_path / "dtype.md").read_text().count("\n|") == 4  # header, rule, 2 rows


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


def test_bench_sgd_reports_the_gap_per_epoch(tmp_path):
    import bench_sgd

    (row,) = bench_sgd.main(["--datasets", "digits", "--epochs", "2", "--out", str(tmp_path)])
    assert len(row["gap_per_epoch"]) == 2 and row["gap_per_epoch"][1] <= row["gap_per_epoch"][0]
    assert row["final_gap"] >= -1e-9 and 0 < row["acc_sgd"] <= 1
    assert (tmp_path / "sgd.md").read_text().count("\n|") == 3  # header, rule, 1 row


def test_bench_stream_feeds_both_models_the_same_stream(tmp_path):
    import bench_stream

    args = ["--n", "1000", "--epochs", "2", "--chunk", "200", "--out", str(tmp_path)]
    (result,) = bench_stream.main(args)
    assert len(result["curves"]) == 2
    for curve in result["curves"].values():
        assert len(curve["log_loss"]) == 2 and all(np.isfinite(curve["log_loss"]))
    assert (tmp_path / "stream.md").read_text().count("\n|") == 4  # header, rule, 2 epochs


def test_bench_sampled_compares_sampled_and_full(tmp_path):
    import bench_sampled

    args = "--scale 0.005 --classes 50 --sampled 5 --epochs 2 --full-epochs 1 --batch-size 64"
    (row,) = bench_sampled.main([*args.split(), "--out", str(tmp_path)])
    assert row["K"] == 50 and row["epochs_compared"] == 1
    assert len(row["acc_sampled_per_epoch"]) == 2 and len(row["acc_full_per_epoch"]) == 1
    assert (tmp_path / "sampled.md").read_text().count("\n|") == 3


def test_bench_outofcore_streams_a_memmap(tmp_path):
    import bench_outofcore

    data = tmp_path / "X.f32"
    args = ["--gb", "0.001", "--chunk", "500", "--path", str(data), "--out", str(tmp_path)]
    (row,) = bench_outofcore.main(args)
    assert (
        row["n"] == 2500
        and row["read_time"] > 0
        and set(row["epochs"]) == {"direct", "spare", "copy"}
    )
    for run in row["epochs"].values():
        assert 0 < run["fit_times"][0] + run["wait_times"][0] <= run["epoch_times"][0]
    assert row["read_time"] == min(row["read_times"]) and len(row["read_times"]) == 2
    assert row["partial_fit_alone_per_chunk"] > 0
    assert row["peak_rss_anon_mib"] >= row["rss_anon_before_mib"] > 0
    assert not data.exists()  # deleted without --keep


def test_bench_targets_times_every_contender_against_a_baseline_checkout(tmp_path):
    import bench_targets

    rows = bench_targets.main(
        ["--n", "300", "--rounds", "1", "--baseline", str(ROOT), "--out", str(tmp_path)]
    )
    names = {"labels", "label_smoothing", "y_proba", "offset", "labels, baseline"}
    assert len(rows) == 4 and all(set(r["median_s"]) == names for r in rows)
    assert all(r["ratio_to_labels"]["labels"]["loss_gradient"] == 1.0 for r in rows)
    assert (tmp_path / "targets.md").read_text().count("\n|") == 2 + 4 * len(names)


def test_bench_grouped_times_both_grouped_solvers(tmp_path):
    import bench_grouped

    args = ["--datasets", "synthetic", "--n", "300", "--Cs", "0.05", "--repeats", "1"]
    results = bench_grouped.main([*args, "--tol", "1e-5", "--out", str(tmp_path)])
    assert [r["solver"] for r in results] == ["proxnewton", "proxqn", "owlqn"]
    assert all(r["seconds"] > 0 and r["passes"] > 0 for r in results)
    assert all(r["features_kept"] < 100 for r in results)  # the lasso dropped features
    assert (tmp_path / "grouped.md").read_text().count("\n|") == 5  # header, rule, 3 rows


def test_bench_gpu_runs_on_torch_cpu(tmp_path):
    pytest.importorskip("torch")
    import bench_gpu

    bench_gpu.main(
        ["--device", "cpu", "--problems", "mnist", "--scale", "0.001", "--repeats", "1"]
        + ["--threads", "1", "--out", str(tmp_path)]
    )
    data = json.loads((tmp_path / "gpu.json").read_text())
    (result,) = data["results"]
    assert result["shape"] == [200, 784, 10] and result["device"] == "cpu"
    assert [r["contender"] for r in result["fits"]] == [
        "softmax-sk",
        "sklearn",
        "torch.optim.LBFGS",
    ]
    assert all(r["seconds"] > 0 for r in result["fits"])
    evaluation = result["evaluation"]
    assert evaluation["eval_s"] > 0 and evaluation["flop_floor_s"] > 0
    assert "| mnist | 200 x 784, 10 | softmax-sk |" in (tmp_path / "gpu.md").read_text()


def test_probe_stream_prints_both_tables(capsys):
    import probe_stream

    probe_stream.main(
        ["--seeds", "2", "--settings", "1:2", "--sizes", "20", "--set", "MEMORY_DECAY=0"]
    )
    out = capsys.readouterr().out
    assert "| 1 | 2 |" in out and "| 20 |" in out
    from softmax_sk import _stochastic

    assert _stochastic.MEMORY_DECAY == 0.5  # --set is undone after the run
