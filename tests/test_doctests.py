"""The `Examples:` sections of lplr_core's docstrings run as doctests, one test per docstring."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

# The modules whose examples are part of the suite (those that exist).
MODULES = ("lplr_core", "lplr_core.tree_math", "lplr_core.rates", "lplr_core.ntk",
           "lplr_core.models", "lplr_core.diagnostics", "lplr_core.losses", "lplr_core.training",
           "lplr_core.summary", "lplr_core.bounds", "lplr_core.check", "lplr_core.engine",
           "lplr_core.lqcr", "lplr_core.data")

# The issue asks for runnable examples on (at least) the ten most used functions.
MIN_PUBLIC_WITH_EXAMPLES = 10

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules():
    found = []
    for name in MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:  # a real import error inside an existing module
                raise
    return found


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = {}
    for module in _modules():
        for test in finder.find(module, module.__name__):
            if test.examples:
                tests[test.name] = test  # a re-exported object is found once, by its first name
    return sorted(tests.values(), key=lambda t: t.name)


DOCTESTS = _doctests()


def _is_public(dotted: str) -> bool:
    return not any(part.startswith("_") for part in dotted.split(".")[1:])


def _public_callables_with_examples() -> set[str]:
    """Qualified names of public functions/classes/methods (not modules) with examples."""
    names = set()
    for test in DOCTESTS:
        if not _is_public(test.name):
            continue
        module_name, obj = test.name, None
        parts = test.name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            module_name = ".".join(parts[:cut])
            break
        if obj is not None and not inspect.ismodule(obj) and test.name != module_name:
            names.add(test.name)
    return names


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples_run(test):
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    output: list[str] = []
    test.globs = dict(test.globs)
    result = runner.run(test, out=output.append, clear_globs=True)
    assert result.failed == 0, "".join(output)


def test_enough_public_functions_have_examples():
    names = _public_callables_with_examples()
    assert len(names) >= MIN_PUBLIC_WITH_EXAMPLES, (
        f"only {len(names)} public functions have a runnable `Examples:` section "
        f"(at least {MIN_PUBLIC_WITH_EXAMPLES} wanted): {sorted(names)}")


def test_examples_are_found_at_all():
    # the finder must see the module-level examples already shipped (tree_math, rates)
    assert any(t.name.startswith("lplr_core.tree_math") for t in DOCTESTS)
