"""How fit time grows with n, d and K: softmax-sk next to scikit-learn, on log-log axes.

    python benchmarks/bench_scaling.py
    python benchmarks/bench_scaling.py --max-n 100000 --repeats 1     # a quick look

Three sweeps over dense standard-normal data with labels from a random softmax
teacher (as in ``bench_fit.py``): n from 1e4 to ``--max-n`` (d=100, K=10), d
from 10 to ``--max-d`` (1000; n=1e5, K=10) and K from 2 to ``--max-k`` (1000;
n=2e4, d=100). At every
point softmax-sk (default settings) and each of ``--sklearn-solvers`` fit the
same data with the same ``tol`` (both stop when the max-norm of the gradient
of the objective divided by ``C * n`` is at most ``tol``), in this one
process; the median of ``--repeats`` fits is recorded with iterations and the
objective's relative gap to the lower of the two fits (so the times are
compared at a similar accuracy). The slope of log(time) against log(size) is
the empirical order of growth. Writes ``<out>/scaling.json``,
``<out>/scaling.md`` and ``<out>/scaling.png``; ``<out>`` is a fresh
``benchmarks/runs/bench_scaling-<UTC time>/`` unless ``--out`` names one.
"""

import argparse
import time
import warnings

import numpy as np
from bench_fit import (
    _teacher,
    add_out_argument,
    objective,
    output_folder,
    run_meta,
    write_results,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from softmax_sk import SoftmaxRegressionClassifier


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, _teacher(X, k, rng)


def timed_fit(model, X, y, repeats):
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(repeats):
            start = time.perf_counter()
            model.fit(X, y)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def point(n, d, k, tol, sk_solvers, repeats):
    X, y = make_data(n, d, k)
    models = {"softmax-sk": SoftmaxRegressionClassifier(tol=tol, max_iter=10_000)}
    for s in sk_solvers:
        models[f"sklearn {s}"] = LogisticRegression(solver=s, tol=tol, max_iter=10_000)
    out = {}
    for label, model in models.items():
        seconds = timed_fit(model, X, y, repeats)
        out[label] = {
            "seconds": seconds,
            "n_iter": int(np.max(model.n_iter_)),
            "objective": objective(model, X, y, 1.0),
        }
    best = min(r["objective"] for r in out.values())
    for r in out.values():
        r["gap"] = (r["objective"] - best) / abs(best)
    return {"n": n, "d": d, "k": k, "fits": out}


def slope(sizes, seconds):
    """Least-squares slope of log(seconds) against log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def sweeps(max_n, max_d=1000, max_k=1000):
    ns = [n for n in (10_000, 30_000, 100_000, 300_000, 1_000_000) if n <= max_n]
    return {
        "n": [(n, 100, 10) for n in ns],
        "d": [(100_000, d, 10) for d in (10, 30, 100, 300, 1000) if d <= max_d],
        "K": [(20_000, 100, k) for k in (2, 10, 30, 100, 300, 1000) if k <= max_k],
    }


def markdown(results, meta):
    lines = [
        f"Command: `{meta['command']}`",
        "",
        f"{meta['cpu_count']} cores; tol {meta['tol']}; softmax-sk compiled kernels: "
        f"{'yes' if meta.get('compiled_kernels') else 'no'}",
        "",
    ]
    for axis, res in results.items():
        labels = list(res["points"][0]["fits"])
        lines += [
            f"### fit time against {axis}",
            "",
            "slope of log(time) vs log("
            + axis
            + "): "
            + ", ".join(f"{lab} **{res['slopes'][lab]:.2f}**" for lab in labels),
            "",
            "| n | d | K | "
            + " | ".join(f"{lab} [s] (iters, gap)" for lab in labels)
            + " | softmax-sk / "
            + " / ".join(lab for lab in labels[1:])
            + " |",
            "| --- " * (4 + len(labels)) + "|",
        ]
        for p in res["points"]:
            f = p["fits"]
            cells = [
                f"{f[lab]['seconds']:.3f} ({f[lab]['n_iter']}, {f[lab]['gap']:.0e})"
                for lab in labels
            ]
            ratios = " / ".join(
                f"{f['softmax-sk']['seconds'] / f[lab]['seconds']:.2f}" for lab in labels[1:]
            )
            lines.append(
                f"| {p['n']} | {p['d']} | {p['k']} | " + " | ".join(cells) + f" | {ratios} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6))
    for ax, (axis, res) in zip(np.atleast_1d(axes), results.items(), strict=True):
        key = {"n": "n", "d": "d", "K": "k"}[axis]
        sizes = [p[key] for p in res["points"]]
        for label in res["points"][0]["fits"]:
            seconds = [p["fits"][label]["seconds"] for p in res["points"]]
            ax.loglog(sizes, seconds, "o-", label=f"{label} (slope {res['slopes'][label]:.2f})")
        ax.set_xlabel(axis)
        ax.set_ylabel("fit time [s]")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=1_000_000)
    parser.add_argument("--max-d", type=int, default=1000)
    parser.add_argument("--max-k", type=int, default=1000)
    parser.add_argument("--axes", default="n,d,K", help="which sweeps to run")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sklearn-solvers", default="lbfgs,newton-cg")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every n (tests)")
    add_out_argument(parser)
    args = parser.parse_args(argv)

    meta = run_meta(argv, tol=args.tol)
    sk_solvers = [s for s in args.sklearn_solvers.split(",") if s]
    with output_folder(args.out, "scaling") as out:
        return run_sweeps(args, sk_solvers, meta, out)


def run_sweeps(args, sk_solvers, meta, out):
    """Each sweep of ``--axes``, its results written to ``out`` as soon as it ends."""
    results = {}
    for axis in args.axes.split(","):
        key = {"n": "n", "d": "d", "K": "k"}[axis]
        points = []
        for n, d, k in sweeps(args.max_n, args.max_d, args.max_k)[axis]:
            points.append(
                point(max(50, int(n * args.scale)), d, k, args.tol, sk_solvers, args.repeats)
            )
            print(
                axis,
                n,
                d,
                k,
                {lab: round(r["seconds"], 3) for lab, r in points[-1]["fits"].items()},
                flush=True,
            )
        sizes = [p[key] for p in points]
        slopes = {
            lab: slope(sizes, [p["fits"][lab]["seconds"] for p in points])
            for lab in points[0]["fits"]
        }
        results[axis] = {"points": points, "slopes": slopes}
        write_results(out, "scaling", meta, results, markdown, plot)
    return results


if __name__ == "__main__":
    main()
