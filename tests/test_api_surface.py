"""The public surface of ``lplr_core``: about thirty top-level names, sub-namespaces as
attributes, and a clear error (naming the new home) for every name that left the top level."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import lplr_core as lp

# The top level before the API was trimmed (lplr_core/__init__.py at commit 9eb6318): every one
# of these names must still be reachable, either at the top level or at the home that the
# AttributeError names.
OLD_TOP_LEVEL = """
ACTIVATIONS PARAMETERIZATIONS NTK_METHODS MLP CNN ResNetCNN param_count empirical_ntk ntk_matvec
ntk_cost kernel_fn infinite_width_ntk ntk_eigenvalues lambda_min lambda_max condition_number
top_eigenvalues matrix_free_eigenvalues loss residual gradient_norm_sq pl_ratio
pl_ratio_from_values rayleigh_quotient lower_envelope parameter_drift kernel_drift operator_norm
lipschitz_along_path lipschitz_in_ball LipschitzEstimate min_pl_ratio_in_ball BallPLEstimate
certificate certified_radius smoothness step_size_thresholds fit_linear_rate RateFit
linear_onset LinearOnset pl_bound kernel_distance kernel_target_alignment tree_norm
min_lambda_min_in_ball BallEigenEstimate fit_power_law PowerLawFit gradient_descent sgd
gradient_descent_sweep stack_params Trajectory SweepResult data Objective GDPath GridPL
quadratic_plus_sine least_squares rank_deficient_least_squares gradient_descent_fn
pl_constant_on_grid rate_factor step_contractions fit_rate_above_floor quadratic_asymptotic_rate
quasi_convexity_ratio quasi_convexity_path QuasiConvexityPath sublinear_bound descent_ratio
quartic_gd_bounds path_length_bound path_length_curve self_consistent_radius
SelfConsistentRadius PATH_BOUNDS phase_diagram PhaseDiagram label_run RunLabels CenteredModel
centered_params REGIMES certify Certificate certified_target_scale ntk_lipschitz_bound
smoothness_bound lambda_min_lower_bound bounds check_network NetworkReport Verdict
""".split()

# The sub-namespaces the issue asks for (lp.objectives.quadratic_plus_sine, ...).
REQUIRED_SUBMODULES = ("models", "ntk", "diagnostics", "losses", "tree_math", "training", "summary",
                       "bounds", "check", "data", "objectives", "lqcr", "containment", "phase",
                       "rates")

# Names the issue keeps at the top level whatever else moves.
REQUIRED_TOP_LEVEL = (
    "MLP", "CNN", "ResNetCNN", "empirical_ntk", "empirical_ntk_fn", "ntk_matvec",
    "infinite_width_ntk", "lambda_min", "lambda_max", "condition_number", "loss", "pl_ratio",
    "parameter_drift", "kernel_drift", "lipschitz_along_path", "lipschitz_in_ball", "certificate",
    "certified_radius", "smoothness", "fit_linear_rate", "gradient_descent", "sgd",
    "gradient_descent_sweep", "Trajectory", "summarize_run", "RunSummary", "certify",
    "check_network", "NetworkReport",
)


def _resolve(dotted: str):
    """The object at a dotted path such as ``lplr_core.objectives.rate_factor``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_top_level_is_about_thirty_names():
    assert 20 <= len(lp.__all__) <= 40, len(lp.__all__)
    assert len(set(lp.__all__)) == len(lp.__all__), "duplicates in __all__"


def test_every_name_in_all_exists_is_public_and_not_a_module():
    for name in lp.__all__:
        assert not name.startswith("_"), name
        obj = getattr(lp, name)
        assert not isinstance(obj, types.ModuleType), f"{name} is a module: keep it out of __all__"


def test_required_names_are_at_the_top_level():
    missing = [name for name in REQUIRED_TOP_LEVEL if name not in lp.__all__]
    assert not missing, missing


def test_top_level_names_are_the_objects_of_their_modules():
    for name in lp.__all__:
        obj = getattr(lp, name)
        module = importlib.import_module(obj.__module__)
        assert getattr(module, name) is obj, f"lp.{name} is not {obj.__module__}.{name}"
        assert obj.__module__.startswith("lplr_core."), (name, obj.__module__)


def test_sub_namespaces_are_attributes():
    for name in REQUIRED_SUBMODULES:
        module = getattr(lp, name)
        assert isinstance(module, types.ModuleType), name
        assert module.__name__ == f"lplr_core.{name}"


def test_dir_is_the_public_surface():
    listed = set(dir(lp))
    assert set(lp.__all__) <= listed
    assert set(REQUIRED_SUBMODULES) <= listed
    private = sorted(n for n in listed if n.startswith("_") and n != "__version__")
    assert not private, private
    extra = listed - set(lp.__all__) - set(REQUIRED_SUBMODULES) - {"__version__"}
    # the only other names are sub-namespaces (modules), never stray functions or constants
    assert all(isinstance(getattr(lp, n), types.ModuleType) for n in extra), sorted(extra)
    assert len(listed) <= 60, len(listed)


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from lplr_core import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(lp.__all__)


@pytest.mark.parametrize("name", OLD_TOP_LEVEL)
def test_every_old_name_is_reachable_or_names_its_new_home(name):
    if name in lp.__all__ or name in REQUIRED_SUBMODULES:
        getattr(lp, name)
        return
    with pytest.raises(AttributeError) as info:
        getattr(lp, name)
    message = str(info.value)
    homes = [word.strip("`(),;:") for word in message.split()
             if word.strip("`(),;:").startswith("lplr_core.")
             and word.strip("`(),;:") != f"lplr_core.{name}"]
    assert homes, f"the AttributeError for lp.{name} names no new home: {message!r}"
    home = homes[0]
    assert home.rsplit(".", 1)[0] != "lplr_core", home
    obj = _resolve(home)  # the named home exists
    assert obj is not None
    assert not hasattr(lp, name)


def test_unknown_name_is_a_plain_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        lp.no_such_name  # noqa: B018


def _n_parameters(obj) -> int:
    return len(inspect.signature(obj).parameters)


def test_top_level_functions_with_three_or_more_parameters_document_them():
    missing = []
    for name in lp.__all__:
        obj = getattr(lp, name)
        if inspect.isclass(obj) or not callable(obj):
            continue
        if _n_parameters(obj) >= 3 and "Args:" not in (inspect.getdoc(obj) or ""):
            missing.append(f"{obj.__module__}.{name}")
    assert not missing, f"no `Args:` section: {missing}"


def test_the_package_docstring_lists_every_top_level_name():
    doc = lp.__doc__
    undocumented = [name for name in lp.__all__ if name not in doc]
    assert not undocumented, undocumented
