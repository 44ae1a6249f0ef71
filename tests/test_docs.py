"""The estimator's HTML repr links to its page of the documentation, and each parameter to
its entry there, as scikit-learn's estimators do.

The links are scikit-learn's (``BaseEstimator._get_doc_link`` and the parameter table of
``sklearn.utils._repr_html``): the page is ``DOC_URL + api/generated/<module>.<name>.html``,
the page autosummary writes for ``docs/api/index.rst.in``, and each parameter a text fragment
``#:~:text=<name>,-<type line>`` of the docstring. Here the expected links are rebuilt from the
docstring by a separate parser; the docs build (``docs/conf.py``, under ``-W``) checks that the
built page exists and holds every fragment.
"""

import re
from html import unescape
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

import softmax_sk
from softmax_sk import SoftmaxRegressionClassifier
from softmax_sk._estimator import DOC_URL

DOCS = Path(__file__).parents[1] / "docs"
ESTIMATORS = [SoftmaxRegressionClassifier]


def _documented_parameters(cls):
    """``{name: type line}`` of the docstring's Parameters section (numpydoc layout)."""
    section = cls.__doc__.split("Parameters\n    ----------\n", 1)[1]
    section = re.split(r"\n    \w[\w ]*\n    -+\n", section, maxsplit=1)[0]
    return dict(re.findall(r"^    (\w+) : (.+)$", section, flags=re.M))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_repr_links_the_api_page(cls):
    url = f"{DOC_URL}api/generated/softmax_sk.{cls.__name__}.html"
    assert DOC_URL.startswith("https://softmax-sk.readthedocs.io/en/stable/")
    assert cls()._get_doc_link() == url
    # the page autosummary builds: docs/api/index.rst.in lists softmax_sk's public names
    # under a "generated" toctree (docs/conf.py), so the html lands at api/generated/
    assert ".. public-names:: softmax_sk\n" in (DOCS / "api" / "index.rst.in").read_text()
    assert ":toctree: generated" in (DOCS / "conf.py").read_text()
    html = unescape(cls()._repr_html_())
    assert f'href="{url}"' in html  # the estimator's name links to its page


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_repr_links_every_parameter_to_its_entry(cls):
    documented = _documented_parameters(cls)
    assert set(documented) == set(cls().get_params(deep=False)), "every parameter documented"
    html = cls(C=2.0)._repr_html_()
    links = dict(
        re.findall(r'class="param-doc-link"[^>]*?href="([^"]+)">\s*(\w+)', html, flags=re.S)
    )
    links = {name: href for href, name in links.items()}
    assert set(links) == set(documented)
    url = cls()._get_doc_link()
    for name, type_line in documented.items():
        href = links[name]
        assert href == f"{url}#:~:text={quote(name)},-{quote(type_line.replace('`', ''))}"
        assert unquote(href.split("#:~:text=")[1]) == f"{name},-{type_line.replace('`', '')}"


def test_every_public_name_is_a_documented_object_or_described_data():
    """What docs/conf.py lists on the API page: functions and classes through autosummary
    (so they need a docstring), data through a description in conf.py."""
    conf = (DOCS / "conf.py").read_text()
    for name in softmax_sk.__all__:
        obj = getattr(softmax_sk, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
        else:
            assert f'"softmax_sk.{name}"' in conf, f"{name} has no description in docs/conf.py"
