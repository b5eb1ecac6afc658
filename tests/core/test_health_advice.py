"""What a health record says about each layer: the thresholds and the words."""

from __future__ import annotations

from explorer.core.builder import build_model
from explorer.core.health_advice import HealthAdvice, advice_by_path, advise, layer_advice
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerSpec, NetworkSpec
from explorer.core.training.health import health_layers
from explorer.core.training.health_log import HealthRecord, LayerHealth


def _health(**figures: float | None) -> LayerHealth:
    values: dict[str, float | None] = {
        "grad_norm": 1.0,
        "update_ratio": 1e-3,
        "dead": None,
        "saturated": None,
        "act_mean": 0.0,
        "act_std": 1.0,
    }
    values.update(figures)
    return LayerHealth(**values)  # type: ignore[arg-type]


def test_a_layer_with_most_units_dead_says_how_many_and_what_to_change() -> None:
    advice = layer_advice(_health(dead=0.61), 1.0)
    assert advice is not None
    assert advice.badge == "61% dead"
    assert advice.text.startswith("61% dead: ")
    assert "leaky_relu" in advice.suggestion and "learning rate" in advice.suggestion


def test_saturation_vanishing_gradients_and_update_sizes_are_named() -> None:
    saturated = layer_advice(_health(saturated=0.5), 1.0)
    assert saturated is not None and saturated.badge == "50% saturated"
    vanishing = layer_advice(_health(grad_norm=1e-5), 1.0)
    assert vanishing is not None and vanishing.badge == "vanishing gradient"
    large = layer_advice(_health(update_ratio=0.5), 1.0)
    assert large is not None and large.badge == "updates too large"
    small = layer_advice(_health(update_ratio=1e-7), 1.0)
    assert small is not None and small.badge == "updates too small"


def test_healthy_layers_and_layers_without_parameters_get_no_advice() -> None:
    assert layer_advice(_health(dead=0.1, saturated=0.2), 1.0) is None
    assert layer_advice(_health(grad_norm=None, update_ratio=None), 1.0) is None


def test_the_most_serious_problem_wins_and_gradients_compare_across_layers() -> None:
    record = HealthRecord(
        10,
        {
            "conv": _health(dead=0.8, grad_norm=1e-6),
            "early": _health(grad_norm=2e-4),
            "late": _health(grad_norm=1.0),
        },
    )
    advice = advise(record)
    assert advice["conv"].badge == "80% dead"
    assert advice["early"].badge == "vanishing gradient"
    assert "late" not in advice


def test_advice_lands_on_the_path_of_its_layer_also_inside_a_block() -> None:
    conv = {"filters": 2, "kernel_size": 3, "padding": "same", "activation": "relu"}
    block = BlockSpec.create("Residual", {"repeat": 2}, [[LayerSpec.create("Conv2D", conv)]])
    dense = LayerSpec.create("Dense", {"units": 10})
    spec = NetworkSpec(
        layers=(LayerSpec.create("Conv2D", conv), block, LayerSpec.new("Flatten"), dense)
    )
    names = [name for name, _ in health_layers(spec, build_model(spec, seed=0))]
    dead = HealthAdvice("61% dead", "why", "what")
    placed = advice_by_path(spec, {names[1]: dead, "not-a-layer": dead})
    inner = next(path for path, item in spec.walk() if path.depth > 1)
    assert "." in names[1]
    assert placed == {inner: dead}
    assert advice_by_path(spec, {names[0]: dead}) == {LayerPath.top(0): dead}
