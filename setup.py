"""Build the optional compiled part of softmax_sk (the rest is in pyproject.toml).

``softmax_sk._kernels`` holds a vectorised exp and the fused softmax of a block's
rows (see its source). It is optional: where it cannot be compiled (no C
compiler), installation goes on and softmax_sk uses numpy, with the same results
to rounding.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "unix":  # gcc or clang; see _kernels.c for why
            for ext in self.extensions:
                ext.extra_compile_args += ["-O3", "-fno-trapping-math", "-fopenmp-simd"]
        super().build_extensions()


setup(
    ext_modules=[Extension("softmax_sk._kernels", ["softmax_sk/_kernels.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
