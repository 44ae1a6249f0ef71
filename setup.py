"""Build the optional compiled part of softmax_sk (the rest is in pyproject.toml).

``softmax_sk._fastexp`` is a vectorised float64 exp (see its source). It is
optional: where it cannot be compiled (no C compiler), installation goes on and
softmax_sk uses numpy's exp, with identical results to 1 ulp.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "unix":  # gcc or clang; see _fastexp.c for why
            for ext in self.extensions:
                ext.extra_compile_args += ["-O3", "-fno-trapping-math"]
        super().build_extensions()


setup(
    ext_modules=[Extension("softmax_sk._fastexp", ["softmax_sk/_fastexp.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
