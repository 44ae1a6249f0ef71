"""Probe: sampled-softmax settings on bench_sampled's data; test accuracy per epoch (prints).

    python benchmarks/probe_sampled.py --classes 10000 --epochs 3 --seeds 0,1,2 \\
        --configs '[{}, {"n_sampled_classes": 256}, {"n_sampled_classes": 256, "prior_step": 6.5}]'

Each config is the estimator's keyword arguments (``solver="sgd"``, ``batch_size=256``,
``C=1e4`` and ``random_state=seed`` are set) plus, optionally, ``prior_step`` for
``softmax_sk._sampled.PRIOR_STEP``; ``{}`` is the full softmax. An epoch is one
``partial_fit`` over the training rows, as in ``bench_sampled.py``. The figures quoted in
``benchmarks/results/notes.md`` (sampled softmax) came from this script.
"""

import argparse
import json
import time
import warnings

import numpy as np
from bench_sampled import N, make_data
from sklearn.exceptions import ConvergenceWarning

from softmax_sk import SoftmaxRegressionClassifier, _sampled


def run(K, scale, epochs, seed, config):
    X, y, X_test, y_test = make_data(max(1000, int(N * scale)), K, seed)
    config = dict(config)
    default = _sampled.PRIOR_STEP
    _sampled.PRIOR_STEP = config.pop("prior_step", default)
    try:
        model = SoftmaxRegressionClassifier(
            solver="sgd", batch_size=256, random_state=seed, C=1e4, **config
        )
        times, accs = [], []
        for _ in range(epochs):
            start = time.perf_counter()
            model.partial_fit(X, y, classes=np.arange(K))
            times.append(time.perf_counter() - start)
            accs.append(round(float(model.score(X_test, y_test)), 4))
    finally:
        _sampled.PRIOR_STEP = default
    return {"seed": seed, "acc": accs, "epoch_s": round(float(np.median(times)), 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10000)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--configs", default='[{}, {"n_sampled_classes": 256}]')
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    for config in json.loads(args.configs):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = run(args.classes, args.scale, args.epochs, seed, config)
            print(json.dumps({"config": config, **row}), flush=True)


if __name__ == "__main__":
    main()
