"""What a layer-health record says about each layer: a short badge ("61% dead"), a
one-line explanation and a suggested change, for the stack's badges and the health view.

Thresholds follow common practice: a ReLU unit that never fires on a batch no longer
learns; sigmoid/tanh outputs at ±0.99 pass almost no gradient; an update/weight ratio near
1e-3 per step is healthy (Karpathy's rule of thumb), far below it the layer barely moves
and far above it the weights are thrown around.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explorer.core.paths import LayerPath
    from explorer.core.spec import NetworkSpec
    from explorer.core.training.health_log import HealthRecord, LayerHealth

#: Share of dead ReLU units, or of saturated sigmoid/tanh outputs, that is a problem.
DEAD_SHARE = 0.4
SATURATED_SHARE = 0.4
#: A layer's gradient norm below this fraction of the network's largest one is vanishing.
VANISHING_FRACTION = 1e-3
#: Update/weight ratios per step outside this range are a problem.
SMALL_UPDATE = 1e-5
LARGE_UPDATE = 0.1


@dataclass(frozen=True)
class HealthAdvice:
    """One problem of one layer: `badge` fits a stack row, `explanation` one line."""

    badge: str
    explanation: str
    suggestion: str

    @property
    def text(self) -> str:
        """The whole advice on one line: "61% dead: ...; lower the learning rate..."."""
        return f"{self.badge}: {self.explanation}; {self.suggestion}"


def advise(record: HealthRecord) -> dict[str, HealthAdvice]:
    """The most serious problem of each unhealthy layer in `record`, by layer name (healthy
    layers are absent)."""
    norms = [h.grad_norm for h in record.layers.values() if h.grad_norm is not None]
    largest = max(norms, default=0.0)
    advice: dict[str, HealthAdvice] = {}
    for name, health in record.layers.items():
        found = layer_advice(health, largest)
        if found is not None:
            advice[name] = found
    return advice


def layer_advice(health: LayerHealth, largest_grad_norm: float) -> HealthAdvice | None:
    """The most serious problem of one layer, given the largest gradient norm of any layer
    in the same record; None when the layer looks healthy."""
    if health.dead is not None and health.dead >= DEAD_SHARE:
        return HealthAdvice(
            f"{health.dead:.0%} dead",
            f"{health.dead:.0%} of its ReLU units never fire on a batch, so they no longer learn",
            "lower the learning rate or use leaky_relu",
        )
    if health.saturated is not None and health.saturated >= SATURATED_SHARE:
        return HealthAdvice(
            f"{health.saturated:.0%} saturated",
            f"{health.saturated:.0%} of its outputs sit at the flat ends of the curve, "
            "where almost no gradient passes",
            "use relu, add BatchNorm before the activation, or lower the learning rate",
        )
    norm = health.grad_norm
    if norm is not None and largest_grad_norm > 0 and norm < VANISHING_FRACTION * largest_grad_norm:
        return HealthAdvice(
            "vanishing gradient",
            f"its gradient is {norm / largest_grad_norm:.0e} of the largest layer's, "
            "so it barely learns",
            "use relu instead of sigmoid/tanh, add BatchNorm, or use a residual block",
        )
    ratio = health.update_ratio
    if ratio is not None and ratio > LARGE_UPDATE:
        return HealthAdvice(
            "updates too large",
            f"each step changes its weights by {ratio:.0%}",
            "lower the learning rate",
        )
    if ratio is not None and 0 < ratio < SMALL_UPDATE:
        return HealthAdvice(
            "updates too small",
            f"each step changes its weights by only {ratio:.0e} of their size",
            "raise the learning rate",
        )
    return None


def advice_by_path(
    spec: NetworkSpec, advice: dict[str, HealthAdvice]
) -> dict[LayerPath, HealthAdvice]:
    """The advice keyed by where each layer sits in `spec` (for the stack's badges): a
    qualified module name ends with the layer's own name, which is unique in the spec.
    Names the spec does not have are left out."""
    paths = {name: path for path, name in spec.names().items()}
    placed: dict[LayerPath, HealthAdvice] = {}
    for qualified, entry in advice.items():
        path = paths.get(qualified.rsplit(".", 1)[-1])
        if path is not None:
            placed[path] = entry
    return placed
