"""The examples in fastem's docstrings run and print what they show (installed package)."""

import doctest
import importlib
import pkgutil

import pytest

import fastem


def _modules():
    return ["fastem"] + [
        info.name for info in pkgutil.walk_packages(fastem.__path__, prefix="fastem.")
    ]


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples(module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:  # an optional backend that cannot run here
        pytest.skip(f"{module_name}: {error}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
