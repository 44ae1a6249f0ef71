"""Time to reach a relative suboptimality of 1e-6: softmax-sk against scikit-learn, side by side.

    python benchmarks/bench_fit.py                       # every dataset, float64 and float32
    python benchmarks/bench_fit.py --datasets digits --dtypes float64 --repeats 3

For each dataset: a reference optimum (the lowest objective any tight fit
reaches), then every contender -- softmax-sk (default and each solver) and
every scikit-learn LogisticRegression solver, as a user gets it and, for the
fastest, with scipy's OpenBLAS limited to one thread -- is fitted with tol =
1e-4, 1e-5, ... until its fit reaches the target suboptimality of the same
objective, ``C * sum CE + ||W||^2 / 2``. That fit is then timed afresh
(median of ``--repeats``, or of about a second's worth, up to 25, for faster
fits; all in this one process), in rounds over the contenders, so that a
burst of load on a shared machine slows all of them rather than one. Also
recorded: iterations, data passes (loss+gradient or Hessian-vector
evaluations), peak additional memory during fit (tracemalloc), test accuracy
and the coef_ dtype. The headline column is
time(softmax-sk default) / time(fastest scikit-learn solver).

Writes ``<out>/fit.json``, ``<out>/fit.md`` and ``<out>/fit.png``; ``<out>`` is a
fresh ``benchmarks/runs/bench_fit-<UTC time>/`` unless ``--out`` names one (see
``benchmarks/README.md``).
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, _linear_loss
from threadpoolctl import ThreadpoolController, threadpool_info

from softmax_sk import SoftmaxRegressionClassifier, _softmax
from softmax_sk._solvers import SOLVERS

TARGET = 1e-6
TOLS = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
SK_SOLVERS = ["lbfgs", "newton-cg", "newton-cholesky", "sag", "saga"]
DATASETS = "digits,dense_100k_100,mnist_50k_784,sparse_100k_50k,classes_50k_1000"
# Fits shorter than this are timed about this long in all (up to 25 runs): on a shared
# machine, a median of 3 fits of 30 ms moved by 2x between runs.
TIMED_SECONDS = 1.0
# Idle time before each timed fit: OpenBLAS's threads spin for about 0.1 s after a
# product before they sleep, and a fit that starts among them runs up to 2x slower
# (benchmarks/bench_threads.py times that case on purpose).
PAUSE_SECONDS = 0.2


# -- data ---------------------------------------------------------------------------------
def _teacher(X, n_classes, rng, temperature=1.0):
    """Labels drawn from a random softmax model, so no class is separable."""
    W = rng.normal(size=(X.shape[1], n_classes)) / np.sqrt(X.shape[1]) * 3 * temperature
    z = np.asarray(X @ W)
    p = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    u = rng.random((X.shape[0], 1))
    return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), n_classes - 1)


def make_dataset(name, scale, seed=0):
    rng = np.random.default_rng(seed)
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X - X.mean(0)) / np.maximum(X.std(0), 1e-12)
        return X, y
    n_of = {
        "dense_100k_100": 100_000,
        "mnist_50k_784": 50_000,
        "sparse_100k_50k": 100_000,
        "classes_50k_1000": 50_000,
    }
    n = max(200, int(n_of[name] * scale))
    if name == "dense_100k_100":
        X = rng.normal(size=(n, 100))
        return X, _teacher(X, 10, rng)
    if name == "mnist_50k_784":
        X = rng.normal(size=(n, 784)) * rng.uniform(0.2, 1.5, size=784)  # uneven scales
        return X, _teacher(X, 10, rng)
    if name == "sparse_100k_50k":
        d = max(500, int(50_000 * scale))
        nnz = 100
        indices = rng.integers(0, d, size=(n, nnz))
        X = sp.csr_matrix(
            (np.ones(n * nnz) / np.sqrt(nnz), indices.ravel(), np.arange(0, n * nnz + 1, nnz)),
            shape=(n, d),
        )
        X.sum_duplicates()
        return X, _teacher(X, 20, rng, temperature=10.0)
    if name == "classes_50k_1000":
        X = rng.normal(size=(n, 100))
        return X, _teacher(X, 1000, rng)
    raise ValueError(f"unknown dataset {name!r}")


# -- objective ----------------------------------------------------------------------------
def objective(model, X, y, C):
    """scikit-learn's L2 objective C * sum CE + ||W||^2 / 2, computed independently."""
    # float64 products even for float32 fits: rounding in float32 is ~1e-7 of the objective.
    z = np.asarray(X @ model.coef_.T.astype(np.float64)) + model.intercept_
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(len(y)), z])
    idx = np.searchsorted(model.classes_, y)
    ce = logsumexp(z, axis=1) - z[np.arange(len(y)), idx]
    return C * ce.sum() + 0.5 * float(np.sum(np.asarray(model.coef_, dtype=np.float64) ** 2))


# -- counting scikit-learn's passes -----------------------------------------------------------
class PassCounter:
    """Counts LinearModelLoss evaluations (each is one pass over X) inside scikit-learn."""

    NAMES = ["loss", "loss_gradient", "gradient", "gradient_hessian_product", "gradient_hessian"]

    def __init__(self):
        self.count = 0
        self._saved = {}

    def __enter__(self):
        cls = _linear_loss.LinearModelLoss
        for name in self.NAMES:
            original = getattr(cls, name)
            self._saved[name] = original

            def wrapped(*args, _original=original, **kwargs):
                self.count += 1
                out = _original(*args, **kwargs)
                if isinstance(out, tuple) and callable(out[-1]):  # (..., hessp)
                    return (*out[:-1], self._counted(out[-1]))
                return out

            setattr(cls, name, wrapped)
        return self

    def _counted(self, hessp):
        def counted(*args, **kwargs):
            self.count += 1
            return hessp(*args, **kwargs)

        return counted

    def __exit__(self, *exc):
        for name, original in self._saved.items():
            setattr(_linear_loss.LinearModelLoss, name, original)


# -- one contender ----------------------------------------------------------------------------
def make_model(kind, solver, tol, C, max_iter=10_000):
    if kind == "softmax-sk":  # "auto-1": the default solver on one thread
        n_jobs = 1 if solver.endswith("-1") else None
        return SoftmaxRegressionClassifier(
            C=C, solver=solver.removesuffix("-1"), tol=tol, max_iter=max_iter, n_jobs=n_jobs
        )
    return LogisticRegression(C=C, solver=solver, tol=tol, max_iter=max_iter)


def fit_once(kind, solver, tol, C, X, y, scipy_one_thread=False, max_iter=10_000):
    model = make_model(kind, solver, tol, C, max_iter)
    limiter = ThreadpoolController().select(filepath="scipy.libs")
    with warnings.catch_warnings(), PassCounter() as counter:
        warnings.simplefilter("ignore", ConvergenceWarning)
        if scipy_one_thread:
            with limiter.limit(limits=1):
                start = time.perf_counter()
                model.fit(X, y)
                seconds = time.perf_counter() - start
        else:
            start = time.perf_counter()
            model.fit(X, y)
            seconds = time.perf_counter() - start
    passes = getattr(model, "_n_passes", None)
    if passes is None:  # scikit-learn: counted evaluations, or epochs for sag/saga
        passes = counter.count if counter.count else int(model.n_iter_[0])
    return model, seconds, passes


def peak_memory(kind, solver, tol, C, X, y, max_iter):
    tracemalloc.start()
    tracemalloc.reset_peak()
    fit_once(kind, solver, tol, C, X, y, max_iter=max_iter)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def reference_optimum(X, y, C):
    """The lowest objective that tight fits (tol 1e-10) of both libraries reach on X.

    Fitted in float64 on the same values: float32 fits stop ~1e-6 short of the
    optimum, and a float32 reference let fits "reach" it with a negative
    suboptimality.
    """
    X64 = X.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        refs = [
            make_model("softmax-sk", "auto", 1e-10, C).fit(X64, y),
            make_model("sklearn", "lbfgs", 1e-10, C).fit(X64, y),
        ]
    return min(objective(m, X, y, C) for m in refs)


def search_tol(kind, solver, C, X, y, f_star, budget, scipy_one_thread=False):
    """The loosest tol in ``TOLS`` whose fit reaches the target (or the last one tried)."""
    max_iter = 10_000
    if kind == "sklearn" and solver in ("sag", "saga"):
        # Stochastic solvers can run for many minutes: cap their epochs at the budget,
        # from the time of one epoch.
        epoch = fit_once(kind, solver, 1e-10, C, X, y, max_iter=1)[1]
        max_iter = int(np.clip(budget / max(epoch, 1e-9), 1, 10_000))
    previous = np.inf
    for tol in TOLS:
        model, seconds, passes = fit_once(kind, solver, tol, C, X, y, scipy_one_thread, max_iter)
        subopt = (objective(model, X, y, C) - f_star) / abs(f_star)
        # Stop tightening at the target, past the time budget, or once a tighter tol
        # no longer helps (float32 cannot resolve every suboptimality).
        if subopt <= TARGET or seconds > budget or subopt > 0.5 * previous:
            break
        previous = subopt
    return {
        "tol": tol,
        "max_iter": max_iter,
        "reached": bool(subopt <= TARGET),
        "suboptimality": float(subopt),
        "times": [seconds],
        "model": model,
        "passes": int(passes),
        "scipy_one_thread": scipy_one_thread,
    }


def time_in_rounds(contenders, C, data, repeats):
    """Fresh, timed fits at the tol found, round-robin over the contenders.

    On a shared machine a burst of load lasts seconds; timing each contender's
    fits back to back let one burst slow one contender only (an identical
    configuration, timed twice in one run, came out 1.5x apart). In rounds,
    every contender meets the same conditions, each fit after
    ``PAUSE_SECONDS`` of idle time so that none starts among the spinning BLAS
    threads the previous one left. Each fit that reached the target runs
    ``repeats`` times, faster ones about ``TIMED_SECONDS`` in all (up to 25
    runs). ``data`` maps each contender's label to the ``(X, y)`` it fits.
    """
    runs = {
        label: max(repeats, min(25, int(TIMED_SECONDS / max(found["times"][0], 1e-3))))
        for label, (_, _, found) in contenders.items()
        if found["reached"]
    }
    for found in (found for _, _, found in contenders.values()):
        if found["reached"]:
            found["times"] = []  # the search fits warmed up caches; not timed
    for r in range(max(runs.values(), default=0)):
        for label, (kind, solver, found) in contenders.items():
            if r < runs.get(label, 0):
                args = (found["tol"], C, *data[label], found["scipy_one_thread"], found["max_iter"])
                time.sleep(PAUSE_SECONDS)
                found["times"].append(fit_once(kind, solver, *args)[1])


def result_row(label, kind, solver, found, C, X, y, X_test, y_test):
    model = found["model"]
    return {
        "contender": label,
        "tol": found["tol"],
        "reached": found["reached"],
        "suboptimality": found["suboptimality"],
        "seconds": float(np.median(found["times"])),
        "runs": len(found["times"]),
        "n_iter": int(np.max(model.n_iter_)),
        "passes": found["passes"],
        "peak_mem_mb": peak_memory(kind, solver, found["tol"], C, X, y, found["max_iter"]) / 2**20,
        "accuracy": float(np.mean(model.predict(X_test) == y_test)),
        "coef_dtype": str(model.coef_.dtype),
    }


def bench_dataset(name, dtype, scale, repeats, budget, sk_solvers=SK_SOLVERS, C=1.0):
    X, y = make_dataset(name, scale)
    X = X.astype(dtype)
    n_train = int(0.8 * X.shape[0])
    X, X_test, y, y_test = X[:n_train], X[n_train:], y[:n_train], y[n_train:]
    x_mb = (X.data.nbytes + X.indices.nbytes if sp.issparse(X) else X.nbytes) / 2**20

    f_star = reference_optimum(X, y, C)
    contenders = [("softmax-sk auto", "softmax-sk", "auto")]
    contenders += [(f"softmax-sk {s}", "softmax-sk", s) for s in SOLVERS if s != "owlqn"]
    contenders.append(("softmax-sk auto n_jobs=1", "softmax-sk", "auto-1"))
    n_coefs = (X.shape[1] + 1) * np.unique(y).size
    # newton-cholesky forms the n_coefs x n_coefs Hessian: skip it where that needs > 2 GiB.
    contenders += [
        (f"sklearn {s}", "sklearn", s)
        for s in sk_solvers
        if not (s == "newton-cholesky" and 8 * n_coefs**2 > 2**31)
    ]
    found = {
        label: (kind, solver, search_tol(kind, solver, C, X, y, f_star, budget))
        for label, kind, solver in contenders
    }
    time_in_rounds(found, C, dict.fromkeys(found, (X, y)), repeats)
    rows = [result_row(label, *entry, C, X, y, X_test, y_test) for label, entry in found.items()]
    sk = [r for r in rows if r["contender"].startswith("sklearn") and r["reached"]]
    if sk:
        # The fastest scikit-learn solver once more, with scipy's OpenBLAS on one thread
        # (timed after the rounds, on its own).
        fastest = min(sk, key=lambda r: r["seconds"])
        solver = fastest["contender"].split()[1]
        tuned = search_tol("sklearn", solver, C, X, y, f_star, budget, scipy_one_thread=True)
        label = fastest["contender"] + " (scipy BLAS 1 thread)"
        pair = {label: ("sklearn", solver, tuned)}
        time_in_rounds(pair, C, {label: (X, y)}, repeats)
        rows.append(result_row(label, "sklearn", solver, tuned, C, X, y, X_test, y_test))
    ours = rows[0]
    sk_best = min((r["seconds"] for r in sk), default=float("nan"))
    tuned_best = min([sk_best] + [rows[-1]["seconds"]] if sk else [float("nan")])
    if not ours["reached"]:  # no ratio for a fit that missed the target
        sk_best = tuned_best = float("nan")
    return {
        "dataset": name,
        "dtype": np.dtype(dtype).name,
        "shape": list(X.shape),
        "n_classes": int(np.unique(y).size),
        "X_mb": x_mb,
        "f_star": f_star,
        "rows": rows,
        "ratio_vs_fastest_sklearn": ours["seconds"] / sk_best,
        "ratio_vs_tuned_sklearn": ours["seconds"] / tuned_best,
    }


# -- report -------------------------------------------------------------------------------------
def machine_line(meta):
    blas = ", ".join(
        f"{lib['internal_api']} {lib.get('version')} in {Path(lib['filepath']).parent.name} "
        f"({lib['num_threads']} threads)"
        for lib in meta["blas"]
    )
    return (
        f"{meta['cpu_count']} cores, {meta['platform']}; numpy {meta['numpy']}, "
        f"scikit-learn {meta['sklearn']}; BLAS: {blas}; softmax-sk compiled kernels: "
        f"{_yes_no(meta.get('compiled_kernels'))}"
    )


def shared_machine_header(meta):
    """The first lines of a results file: its command and the machine, said to be shared."""
    return [
        f"Command: `{meta['command']}`",
        "",
        machine_line(meta) + ". The machine was shared with other jobs and loaded: times are "
        "indicative only.",
        "",
    ]


def _yes_no(value):
    """A bool as yes/no; a merged results file says in words which rows had it."""
    return value if isinstance(value, str) else ("yes" if value else "no")


def markdown(results, meta=None):
    lines = [f"Command: `{meta['command']}`", "", machine_line(meta), ""] if meta else []
    for res in results:
        lines += [
            f"### {res['dataset']} {res['dtype']} {res['shape'][0]}x{res['shape'][1]}, "
            f"K={res['n_classes']} (X: {res['X_mb']:.1f} MiB)",
            "",
            f"time ratio softmax-sk auto / fastest scikit-learn: "
            f"**{res['ratio_vs_fastest_sklearn']:.2f}**; / scikit-learn with tuned BLAS "
            f"threads: **{res['ratio_vs_tuned_sklearn']:.2f}**",
            "",
            "| contender | tol | reached 1e-6 | time [s] | iters | passes | peak mem [MiB] "
            "| test acc | coef dtype |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in res["rows"]:
            lines.append(
                f"| {r['contender']} | {r['tol']:.0e} | {'yes' if r['reached'] else 'no'} "
                f"({r['suboptimality']:.1e}) | {r['seconds']:.3f} | {r['n_iter']} | "
                f"{r['passes']} | {r['peak_mem_mb']:.1f} | {r['accuracy']:.4f} | "
                f"{r['coef_dtype']} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['dataset']}\n{r['dtype']}" for r in results]
    ratios = [r["ratio_vs_fastest_sklearn"] for r in results]
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(results)), 3.5))
    ax.bar(labels, ratios, color="tab:blue")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel("time to 1e-6 suboptimality\nsoftmax-sk / fastest scikit-learn")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full n")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget",
        type=float,
        default=120.0,
        help="seconds one fit may take before a contender stops tightening tol",
    )
    parser.add_argument("--sklearn-solvers", default=",".join(SK_SOLVERS))
    add_out_argument(parser)
    args = parser.parse_args(argv)

    meta = run_meta(argv, target_suboptimality=TARGET)
    results = []
    with output_folder(args.out, "fit") as out:
        for name in args.datasets.split(","):
            for dtype in args.dtypes.split(","):
                res = bench_dataset(
                    name,
                    np.dtype(dtype),
                    args.scale,
                    args.repeats,
                    args.budget,
                    args.sklearn_solvers.split(","),
                )
                results.append(res)
                print(markdown([res]), flush=True)
                # Written after every dataset, so an interrupted run keeps what it measured.
                write_results(out, "fit", meta, results, markdown, plot)
    return results


# -- shared by every script in benchmarks/ --------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]  # the repository
RUNS = ROOT / "benchmarks" / "runs"  # git-ignored


def add_out_argument(parser):
    parser.add_argument(
        "--out",
        help="folder to write the results to (default: a fresh benchmarks/runs/<script>-<UTC "
        "time>/; only an explicit --out benchmarks/results replaces the committed results)",
    )


@contextmanager
def output_folder(out, name):
    """The folder a run of ``bench_<name>.py`` writes to, announced at its start and end.

    ``out`` as given (created if missing), or, when it is None, a fresh
    ``benchmarks/runs/bench_<name>-<UTC time>/``, so that a run never
    overwrites committed results unless asked to.
    """
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = RUNS / f"bench_{name}-{stamp}"
        for i in range(2, 1000):  # fresh even for two runs started in the same second
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                path = RUNS / f"bench_{name}-{stamp}-{i}"
    else:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
    print(f"bench_{name}: writing results to {_shown(path)}", flush=True)
    try:
        yield path
    finally:  # an interrupted run keeps what it wrote, and says where
        print(f"bench_{name}: results in {_shown(path)}", flush=True)


def _shown(path):
    """``path`` relative to the working directory where it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def command_line(argv=None):
    """How this run was started, as run from the repository root.

    ``argv`` (a call of ``main(argv)``) is shown as that call; a script run
    from another folder is shown by its path from the root.
    """
    if argv is not None:
        return "main(" + repr(argv) + ")"
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    return "python " + shlex.join([str(script), *sys.argv[1:]])


def run_meta(argv, **extra):
    """What every benchmark records about its run: command, machine, versions, BLAS."""
    return {
        "command": command_line(argv),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "blas": threadpool_info(),
        "compiled_kernels": _softmax._kernels is not None,
        **extra,
    }


def write_results(out, name, meta, results, to_markdown, to_plot):
    """``<name>.json``, ``<name>.md`` and (with ``to_plot``) ``<name>.png`` in ``out``."""
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / f"{name}.md").write_text(to_markdown(results, meta) + "\n")
    if to_plot is not None:
        to_plot(results, out / f"{name}.png")


if __name__ == "__main__":
    main()
