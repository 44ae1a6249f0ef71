"""Out of core: stream a float32 np.memmap through partial_fit; peak anonymous memory, epoch time.

    python benchmarks/bench_outofcore.py --gb 1
    python benchmarks/bench_outofcore.py --gb 10 --path /big/disk/X.f32

The recipe (also in the README): a thread copies the next chunk into memory
while ``partial_fit`` works on this one (numpy releases the GIL while it
copies, and the copy waits on the disk, not on the fit):

    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
    with ThreadPoolExecutor(1) as reader:
        for epoch in range(n_epochs):
            ahead = reader.submit(np.array, X[:chunk])
            for a in range(0, n, chunk):
                block = ahead.result()
                if a + chunk < n:
                    ahead = reader.submit(np.array, X[a + chunk : a + 2 * chunk])
                clf.partial_fit(block, y[a : a + chunk], classes=classes)

On Linux, ``direct_chunks`` below reads the same file with ``O_DIRECT`` into
two page-aligned buffers instead: the disk writes into them without the page
cache and without a copy on the CPU, which on a machine with few cores leaves
the CPU to the fit.

Writes a file of ``--gb`` gigabytes (d=100 features, labels from a random
softmax teacher over 10 classes, kept in memory: 8 bytes a row), then times
reading the file once in the same chunks (each chunk copied from the memmap),
one epoch of ``partial_fit`` per reader and ``--epochs`` ("direct": the
``O_DIRECT`` thread, buffered where the file system refuses ``O_DIRECT``;
"spare": the same with BLAS limited to all CPUs but one, left to the reader;
"copy": the thread copying from the memmap; with ``--serial-epoch`` also
"serial": each chunk copied before it is fitted), time in ``partial_fit`` and
waiting for the disk apart, and the read again: the disk of a shared machine
varies from pass to pass, and the ratio is taken to the faster read. Before
each pass the file's pages are dropped from the page cache
(``posix_fadvise(DONTNEED)``) with no mapping of it alive (the kernel keeps
pages a mapping holds), so every pass reads the disk. Peak anonymous memory is
the largest ``RssAnon`` of ``/proc/self/status`` (memory the process owns, not
the page cache holding the file) sampled after every chunk; the issue asks for
less than 1 GiB. Writes ``<out>/outofcore.json`` and ``outofcore.md``; the
data file is deleted at the end unless ``--keep``.
"""

import argparse
import mmap
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from bench_fit import (
    RUNS,
    add_out_argument,
    output_folder,
    run_meta,
    shared_machine_header,
    write_results,
)
from threadpoolctl import threadpool_limits

from softmax_sk import SoftmaxRegressionClassifier
from softmax_sk._engine import available_cpus

D = 100
N_CLASSES = 10
# "spare": the O_DIRECT reader with BLAS on all CPUs but one, left to the reader (and the
# disk's emulation on a virtual machine).
SPARE_BLAS = max(1, available_cpus() - 1)


def rss_anon_bytes():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def write_data(path, n, chunk, seed=0):
    """X (a float32 file) and its labels, written a chunk at a time."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, N_CLASSES)) / np.sqrt(D) * 3  # the teacher, as bench_fit's
    X = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, D))
    y = np.empty(n, dtype=np.int64)
    for a in range(0, n, chunk):
        block = rng.normal(size=(min(chunk, n - a), D))
        X[a : a + len(block)] = block
        y[a : a + len(block)] = _teacher_labels(block, W, rng)
    X.flush()
    del X
    return y


def _teacher_labels(block, W, rng):
    z = block @ W
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.minimum((p.cumsum(axis=1) < rng.random((len(block), 1))).sum(axis=1), N_CLASSES - 1)


def chunks(path, n, chunk, reader, waited):
    """``(start, rows in memory)`` of every chunk of the freshly dropped file, read by
    ``reader`` ("serial", "copy" or "direct", see the module docstring); ``waited[0]``
    adds up the time spent waiting for a thread's read. The caller must hold no mapping
    of an earlier pass: it would keep pages cached."""
    drop_from_page_cache(path)
    if reader in ("direct", "spare"):
        yield from direct_chunks(path, n, chunk, waited)
        return
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, D))
    if reader == "serial":
        for a in range(0, n, chunk):
            yield a, np.array(X[a : a + chunk])
        return
    with ThreadPoolExecutor(1) as thread:
        ahead = thread.submit(np.array, X[:chunk])
        for a in range(0, n, chunk):
            start = time.perf_counter()
            block = ahead.result()
            waited[0] += time.perf_counter() - start
            if a + chunk < n:
                ahead = thread.submit(np.array, X[a + chunk : a + 2 * chunk])
            yield a, block


def open_direct(path):
    """``(file descriptor, True)`` opened with ``O_DIRECT``, or ``(fd, False)`` buffered
    where the OS or file system (tmpfs) refuses it."""
    if hasattr(os, "O_DIRECT"):
        try:
            return os.open(path, os.O_RDONLY | os.O_DIRECT), True
        except OSError:
            pass
    return os.open(path, os.O_RDONLY), False


def direct_chunks(path, n, chunk, waited, page=mmap.PAGESIZE):
    """The chunks of the float32 (n, D) file at ``path``, read in a thread into two
    page-aligned buffers (one being filled while the caller uses the other), each
    read starting and ending on a page boundary as ``O_DIRECT`` requires."""
    fd, _ = open_direct(path)
    row, size = 4 * D, n * 4 * D
    buffers = [mmap.mmap(-1, chunk * row + 2 * page) for _ in range(2)]

    def read(a, buffer):
        lo = a * row // page * page
        hi = min(-(-(a + chunk) * row // page) * page, -(-size // page) * page)
        done = 0
        while lo + done < min(hi, size):
            got = os.preadv(fd, [memoryview(buffer)[done : hi - lo]], lo + done)
            if got <= 0:
                raise OSError(f"short read at byte {lo + done} of {path}")
            done += got
        rows = min(chunk, n - a)
        return np.frombuffer(buffer, np.float32, rows * D, a * row - lo).reshape(rows, D)

    try:
        with ThreadPoolExecutor(1) as thread:
            ahead = thread.submit(read, 0, buffers[0])
            for i, a in enumerate(range(0, n, chunk)):
                start = time.perf_counter()
                block = ahead.result()
                waited[0] += time.perf_counter() - start
                if a + chunk < n:
                    ahead = thread.submit(read, a + chunk, buffers[(i + 1) % 2])
                yield a, block
                del block  # the buffer is refilled two chunks on
    finally:
        os.close(fd)


def read_pass(path, n, chunk):
    """``(seconds, checksum)`` of copying every chunk from the memmap once."""
    start = time.perf_counter()
    checksum = 0.0
    for _, block in chunks(path, n, chunk, "serial", [0.0]):
        checksum += float(block[:, 0].sum())
    return time.perf_counter() - start, checksum


def epoch_pass(clf, path, y, chunk, reader, peak):
    """``(seconds, seconds in partial_fit, seconds waiting for a read, peak RssAnon)``
    of one partial_fit epoch over the chunks."""
    start = time.perf_counter()
    fitting, waited = 0.0, [0.0]
    with threadpool_limits(SPARE_BLAS if reader == "spare" else None, user_api="blas"):
        for a, block in chunks(path, len(y), chunk, reader, waited):
            call = time.perf_counter()
            clf.partial_fit(block, y[a : a + chunk], classes=np.arange(N_CLASSES))
            fitting += time.perf_counter() - call
            peak = max(peak, rss_anon_bytes())
    return time.perf_counter() - start, fitting, waited[0], peak


def compute_alone(clf, X, y, chunk, n_chunks=10):
    """Median seconds of a partial_fit call on a chunk already in memory, nothing else
    running: the fit's own cost, which an epoch cannot go below."""
    times = []
    for a in range(0, min(len(y), n_chunks * chunk), chunk):
        block = np.array(X[a : a + chunk])
        start = time.perf_counter()
        clf.partial_fit(block, y[a : a + chunk])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(gb, chunk, epochs, path, serial_epoch):
    n = int(gb * 1e9) // (4 * D)
    start = time.perf_counter()
    y = write_data(path, n, chunk)
    write_time = time.perf_counter() - start
    base = rss_anon_bytes()
    peak = base
    read_times = []
    seconds, checksum = read_pass(path, n, chunk)
    read_times.append(seconds)
    fd, direct_io = open_direct(path)
    os.close(fd)
    clf = SoftmaxRegressionClassifier(random_state=0)
    readers = ["direct", "spare", "copy"] + ["serial"] * serial_epoch
    runs = {reader: {"epoch_times": [], "fit_times": [], "wait_times": []} for reader in readers}
    for _ in range(epochs):
        for reader in readers:
            seconds, fitting, waited, peak = epoch_pass(clf, path, y, chunk, reader, peak)
            runs[reader]["epoch_times"].append(seconds)
            runs[reader]["fit_times"].append(fitting)
            runs[reader]["wait_times"].append(waited)
    read_times.append(read_pass(path, n, chunk)[0])
    test = slice(0, min(n, 20_000))
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, D))
    accuracy = float(clf.score(X[test], y[test]))  # before compute_alone trains further
    alone = compute_alone(clf, X, y, chunk)
    for r in runs.values():
        r["epoch_over_read"] = float(np.median(r["epoch_times"]) / min(read_times))
    return {
        "gb": gb,
        "n": n,
        "d": D,
        "chunk": chunk,
        "write_time": write_time,
        "read_times": read_times,
        "read_time": min(read_times),
        "direct_io": direct_io,
        "epochs": runs,
        "partial_fit_alone_per_chunk": alone,
        "partial_fit_alone_epoch": alone * -(-n // chunk),
        "peak_rss_anon_mib": peak / 2**20,
        "rss_anon_before_mib": base / 2**20,
        "train_accuracy_first_rows": accuracy,
        "checksum": checksum,
    }


READER_NAMES = {
    "direct": "a thread reading with O_DIRECT",
    "spare": f"a thread reading with O_DIRECT, BLAS limited to {SPARE_BLAS} thread(s)",
    "copy": "a thread copying from the memmap",
    "serial": "each chunk copied, then fitted",
}


def markdown(results, meta):
    r = results[0]
    reads = " / ".join(f"{t:.2f}" for t in r["read_times"])
    direct = "" if r["direct_io"] else " (buffered: this file system refuses O_DIRECT)"
    lines = [
        *shared_machine_header(meta),
        f"A {r['gb']} GB float32 memmap ({r['n']} x {r['d']}), chunks of {r['chunk']} rows, "
        "the file dropped from the page cache (no mapping alive) before each pass. Read "
        f"once, copying each chunk from the memmap: {reads} s (before / after the epochs). "
        f"Peak RssAnon {r['peak_rss_anon_mib']:.0f} MiB ({r['rss_anon_before_mib']:.0f} "
        f"before the stream); accuracy on the first rows {r['train_accuracy_first_rows']:.4f}.",
        "",
        "| epoch, the next chunk read by | epoch [s] | in partial_fit [s] "
        "| waiting for the disk [s] | epoch / faster read |",
        "| --- | --- | --- | --- | --- |",
    ]
    for reader, run in r["epochs"].items():
        cells = [
            " / ".join(f"{t:.2f}" for t in run[key])
            for key in ("epoch_times", "fit_times", "wait_times")
        ]
        name = READER_NAMES[reader] + (direct if reader == "direct" else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {run['epoch_over_read']:.2f} |")
    lines += [
        "",
        f"partial_fit alone, on a chunk in memory: {1e3 * r['partial_fit_alone_per_chunk']:.1f} "
        f"ms (median of 10), {r['partial_fit_alone_epoch']:.2f} s for the {r['n'] // r['chunk']} "
        "chunks of an epoch.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the data file")
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per partial_fit call")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per reader")
    parser.add_argument(
        "--serial-epoch", action="store_true", help="also time epochs without a reader thread"
    )
    parser.add_argument("--path", help="data file (default: a new file in benchmarks/runs/)")
    parser.add_argument("--keep", action="store_true", help="keep the data file")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    meta = run_meta(argv)
    path = args.path
    if path is None:
        RUNS.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(suffix=".f32", dir=RUNS)  # on disk, never a tmpfs
        os.close(fd)
    try:
        with output_folder(args.out, "outofcore") as out:
            results = [run(args.gb, args.chunk, args.epochs, path, int(args.serial_epoch))]
            write_results(out, "outofcore", meta, results, markdown, None)
            print(markdown(results, meta))
    finally:
        if not args.keep:
            Path(path).unlink(missing_ok=True)
    return results


if __name__ == "__main__":
    main()
