"""Build the optional compiled part of softmax_sk (the rest is in pyproject.toml).

``softmax_sk._kernels`` (``_kernels.pyx``, Cython, over the plain-C loops of
``_kernels.h``) holds a vectorised exp, the fused softmax of a block's rows and
the Hessian rows. It is optional: where it cannot be built (no C compiler, a
failed compile, Cython missing), installation goes on, prints a warning line
starting with ``softmax-sk: WARNING`` (pip shows build output with ``-v``) and
softmax_sk uses numpy, with the same results to rounding.
``python -c "import softmax_sk; softmax_sk.show_versions()"`` tells which is in use.
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

FALLBACK = "softmax_sk will use its numpy fallback (same results, slower)"


def warn(message):
    line = f"softmax-sk: WARNING: {message}; {FALLBACK}"
    bar = "!" * min(len(line), 100)
    print(f"\n{bar}\n{line}\n{bar}\n", file=sys.stderr, flush=True)


class OptionalBuildExt(build_ext):
    """build_ext that warns, instead of failing, where the kernels cannot be compiled."""

    failed = False  # an extension failed (and said so): what follows may fail too

    def build_extensions(self):
        if self.compiler.compiler_type == "unix":  # gcc or clang; see _kernels.h for why
            for ext in self.extensions:
                ext.extra_compile_args += ["-O3", "-fno-trapping-math", "-fopenmp-simd"]
        super().build_extensions()

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler found at all, say
            if not self.failed:  # (an editable install copying what was not built)
                warn(f"could not build the compiled kernels ({type(exc).__name__}: {exc})")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a compiler that is not there
            self.failed = True
            warn(f"could not compile {ext.name} ({type(exc).__name__}: {exc})")


def extensions():
    try:
        from Cython.Build import cythonize
    except ImportError:
        warn("Cython is not installed, so the compiled kernels are not built")
        return []
    ext = Extension(
        "softmax_sk._kernels",
        ["softmax_sk/_kernels.pyx"],
        depends=["softmax_sk/_kernels.h"],
    )
    try:
        extensions = cythonize([ext], compiler_directives={"language_level": 3})
    except Exception as exc:
        warn(f"Cython could not translate softmax_sk/_kernels.pyx ({type(exc).__name__}: {exc})")
        return []
    for ext in extensions:  # the generated .c depends on the .pyx: ship it in the sdist too
        ext.depends.append("softmax_sk/_kernels.pyx")
    return extensions


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
