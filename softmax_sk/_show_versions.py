"""Versions of softmax-sk, its dependencies and BLAS, for bug reports (as sklearn has)."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

__all__ = ["show_versions"]

_DEPENDENCIES = ["softmax-sk", "numpy", "scipy", "scikit-learn", "threadpoolctl", "joblib"]


def _versions_info():
    """Everything ``show_versions`` prints, as a dict.

    Returns
    -------
    info : dict
        ``"system"``: python, its executable and the platform; ``"dependencies"``:
        each package's installed version (None where it is missing);
        ``"kernels"``: ``{"in_use": bool, "status": str}``, whether softmax-sk's
        compiled kernels are used and, if not, why (not built, or disabled by
        ``SOFTMAX_SK_NO_KERNELS``); ``"threadpools"``: threadpoolctl's
        ``threadpool_info()`` (BLAS and OpenMP libraries, with their versions and
        thread counts).
    """
    from threadpoolctl import threadpool_info

    from . import _softmax

    dependencies = {}
    for name in _DEPENDENCIES:
        try:
            dependencies[name] = version(name)
        except PackageNotFoundError:
            dependencies[name] = None
    return {
        "system": {
            "python": sys.version.replace("\n", " "),
            "executable": sys.executable,
            "machine": platform.platform(),
        },
        "dependencies": dependencies,
        "kernels": {"in_use": _softmax._kernels is not None, "status": _softmax._kernels_status()},
        "threadpools": threadpool_info(),
    }


def show_versions():
    """Print the versions of softmax-sk and its dependencies, BLAS and the kernels in use.

    For bug reports, in the spirit of :func:`sklearn.show_versions`: the Python
    version and platform; the versions of softmax-sk, numpy, scipy,
    scikit-learn, threadpoolctl and joblib; whether softmax-sk's compiled
    kernels are in use, and if not why (not built at install time, or disabled
    by ``SOFTMAX_SK_NO_KERNELS=1``); and, through threadpoolctl, the BLAS and
    OpenMP libraries loaded, with their versions and thread counts.

    Returns
    -------
    None
        The report goes to standard output.

    Examples
    --------
    >>> from softmax_sk import show_versions
    >>> show_versions()  # doctest: +ELLIPSIS
    <BLANKLINE>
    System:
        python: ...
    Python dependencies:
       softmax-sk: ...
    softmax-sk compiled kernels: ...
    """
    info = _versions_info()
    print("\nSystem:")
    for key, value in info["system"].items():
        print(f"{key:>10}: {value}")
    print("\nPython dependencies:")
    for key, value in info["dependencies"].items():
        print(f"{key:>13}: {value if value is not None else 'not installed'}")
    print(f"\nsoftmax-sk compiled kernels: {info['kernels']['status']}")
    print("\nThreadpoolctl info (BLAS, OpenMP):")
    if not info["threadpools"]:
        print("    none found")
    for pool in info["threadpools"]:
        print()
        for key, value in pool.items():
            print(f"{key:>15}: {value}")
