"""Sphinx configuration of the softmax-sk documentation.

Build: ``pip install -e ".[docs]"`` then ``sphinx-build -W --keep-going -b html docs
docs/_build/html``. The notebooks in ``notebooks/`` are copied into ``docs/notebooks/`` and
executed by myst-nb (cached in ``docs/_build/.jupyter_cache``). The API page lists every
name in ``softmax_sk.__all__`` and ``softmax_sk.onnx.__all__``, generated at build time, and
the build fails (as a warning under ``-W``) when a public name has no page or when the
estimators' HTML-repr links would point to a page or parameter that is not there.
"""

import html as html_module
import inspect
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

from sphinx.util import logging

import softmax_sk
import softmax_sk.onnx

HERE = Path(__file__).parent
ROOT = HERE.parent

project = "softmax-sk"
author = "the softmax-sk developers"
copyright = "the softmax-sk developers"
release = softmax_sk.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

html_theme = "pydata_sphinx_theme"
html_title = f"softmax-sk {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}

# Straight quotes: the HTML repr's parameter links are text fragments of the docstrings'
# type lines ("dict or 'balanced', default=None"), which curly quotes would not match.
smartquotes = False

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 180
nb_execution_raise_on_error = True
nb_merge_streams = True
# Benchmark tables and the changelog are included as they are: their heading levels
# start below the page title.
suppress_warnings = ["myst.header"]

# -- notebooks: notebooks/*.ipynb are the source, copied here on every build --------------
NOTEBOOKS = HERE / "notebooks"
NOTEBOOKS.mkdir(exist_ok=True)
for stale in NOTEBOOKS.glob("*.ipynb"):
    if not (ROOT / "notebooks" / stale.name).exists():
        stale.unlink()
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    target = NOTEBOOKS / notebook.name
    if not target.exists() or target.read_bytes() != notebook.read_bytes():
        shutil.copyfile(notebook, target)

# -- the API page: one entry per public name ---------------------------------------------
# Names that are data, not functions or classes, have no docstring of their own.
DATA_DESCRIPTIONS = {
    "softmax_sk.TRUSTED_TYPES": (
        "The types to pass as ``skops.io.load(file, trusted=softmax_sk.TRUSTED_TYPES)`` to "
        "load a model saved with ``skops.io.dump``: list of str."
    ),
    "softmax_sk.__version__": "The installed version of softmax-sk: str.",
    "softmax_sk.onnx.ALIAS": "The name of the model's operator in skl2onnx's registry: str.",
}
PUBLIC = {"softmax_sk": softmax_sk, "softmax_sk.onnx": softmax_sk.onnx}


def _api_section(module_name):
    module = PUBLIC[module_name]
    documented = [n for n in module.__all__ if callable(getattr(module, n))]
    data = [n for n in module.__all__ if not callable(getattr(module, n))]
    lines = [".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
    lines += [f"   {name}" for name in documented]
    lines.append("")
    for name in data:
        full = f"{module_name}.{name}"
        lines += [f".. py:data:: {name}", "", f"   {DATA_DESCRIPTIONS.get(full, '')}", ""]
    return "\n".join(lines)


# The stubs autosummary writes are regenerated on every build: a stale one (of a name no
# longer public) would be a page outside every toctree.
shutil.rmtree(HERE / "api" / "generated", ignore_errors=True)

# api/index.rst is written from api/index.rst.in, its ``.. public-names:: MODULE`` lines
# replaced by the listing, before Sphinx (and autosummary, which reads the file as it is)
# sees it.
_api_page = re.sub(
    r"^\.\. public-names:: (\S+)$",
    lambda m: _api_section(m.group(1)),
    (HERE / "api" / "index.rst.in").read_text(),
    flags=re.M,
)
_api_file = HERE / "api" / "index.rst"
if not _api_file.exists() or _api_file.read_text() != _api_page:
    _api_file.write_text(_api_page)


def _check_public_names(app, env):
    """Every public name documented; the data names described."""
    logger = logging.getLogger(__name__)
    objects = env.get_domain("py").objects
    for module_name, module in PUBLIC.items():
        for name in module.__all__:
            full = f"{module_name}.{name}"
            if full not in objects:
                logger.warning("public name %s is not documented on the API page", full)
            if not callable(getattr(module, name)) and full not in DATA_DESCRIPTIONS:
                logger.warning("public data %s has no entry in docs/conf.py", full)


def _check_repr_links(app, exception):
    """The estimators' HTML repr links point at built pages holding each parameter."""
    if exception is not None or app.builder.name != "html":
        return
    from softmax_sk._estimator import DOC_URL

    logger = logging.getLogger(__name__)
    for name in softmax_sk.__all__:
        cls = getattr(softmax_sk, name)
        if not (inspect.isclass(cls) and hasattr(cls, "_get_doc_link")):
            continue
        url = cls()._get_doc_link()
        page = Path(app.outdir) / url.removeprefix(DOC_URL)
        if not url.startswith(DOC_URL) or not page.is_file():
            logger.warning("%s links its HTML repr to %s, which the docs do not build", name, url)
            continue
        text = html_module.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        html = cls()._repr_html_()
        for param in cls().get_params(deep=False):
            fragments = re.findall(rf"#:~:text=({re.escape(param)},-[^\"]+)\"", html)
            if not fragments:
                logger.warning("%s's HTML repr has no link for parameter %s", name, param)
            for fragment in fragments:
                target, suffix = (unquote(part) for part in fragment.split(",-", 1))
                if not re.search(rf"{re.escape(target)}\s*:?\s*{re.escape(suffix)}", text):
                    logger.warning("%s: link %s matches nothing on %s", name, fragment, page)


def _skip_member(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods are documented by scikit-learn."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("env-updated", _check_public_names)
    app.connect("build-finished", _check_repr_links)
