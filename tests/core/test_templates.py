"""The block templates: the papers' parameter counts, and analysis = built model = a network
written by hand in plain PyTorch from the paper."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.spec import BlockSpec, LayerOrBlock, NetworkSpec
from explorer.core.templates import TEMPLATES_DIR, load_template, template_names
from explorer.core.training_spec import TRAINING_PARAMS

BLOCK_TEMPLATES = (
    "resnet20-cifar",
    "resnet-mnist",
    "inception-mini",
    "mobilenet-cifar",
    "se-resnet-mini",
)


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def running_statistics(model: nn.Module) -> int:
    # What Keras counts as non-trainable: BatchNorm's running mean and variance.
    return sum(
        b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "_var"))
    )


def with_shortcuts(spec: NetworkSpec, old: str, new: str) -> NetworkSpec:
    """`spec` with every residual shortcut `old` (at any depth) made `new`."""
    for path, item in spec.walk():
        if isinstance(item, BlockSpec) and item.type == "Residual" and item.get("shortcut") == old:
            spec = spec.replace_at(path, item.with_values(shortcut=new))
    return spec


def test_every_template_lists_every_training_setting() -> None:
    for name in template_names():
        data = json.loads((TEMPLATES_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert set(data["training"]) == set(TRAINING_PARAMS), name


def test_templates_with_blocks_are_saved_as_format_version_2() -> None:
    assert set(BLOCK_TEMPLATES) <= set(template_names())
    for name in BLOCK_TEMPLATES:
        data = json.loads((TEMPLATES_DIR / f"{name}.json").read_text(encoding="utf-8"))
        # MobileNet v1 is a plain stack (depthwise separable units have no shortcut), so it
        # stays in the version older releases read.
        flat = name == "mobilenet-cifar"
        assert data["version"] == (1 if flat else 2), name
        assert load_template(name).has_blocks is not flat, name


def test_resnet20_has_twenty_weighted_layers() -> None:
    def weighted(items: tuple[LayerOrBlock, ...]) -> int:
        count = 0
        for item in items:
            if isinstance(item, BlockSpec):
                count += item.repeat * sum(weighted(stack) for stack in item.stacks)
            elif item.type in ("Conv2D", "Dense"):
                count += 1
        return count

    assert weighted(load_template("resnet20-cifar").layers) == 20


@pytest.mark.parametrize(
    ("shortcut", "trainable_params", "non_trainable_params"),
    [
        # He et al. 2016, §4.2 and Table 6: "0.27M" with option A (zero-padding shortcuts).
        ("pad", 269_722, 1_376),
        # Option B: 1×1 conv + BatchNorm where the shape changes (16→32 and 32→64).
        ("projection", 272_474, 1_376 + 2 * (32 + 64)),
    ],
)
def test_resnet20_counts_the_papers_parameters_in_analysis_and_torch(
    shortcut: str, trainable_params: int, non_trainable_params: int
) -> None:
    spec = with_shortcuts(load_template("resnet20-cifar"), "pad", shortcut)
    analysis = analyze(spec)
    assert analysis.diagnostics == ()
    assert analysis.trainable_params == trainable_params
    assert analysis.non_trainable_params == non_trainable_params
    model = build_model(spec, seed=0)
    assert trainable(model) == trainable_params
    assert running_statistics(model) == non_trainable_params
    reference = ResNetCifar(3, 16, shortcut)
    assert trainable(reference) == trainable_params
    assert running_statistics(reference) == non_trainable_params


# --- the networks written by hand from the papers, in plain PyTorch ----------------------


def conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    """He et al. 2016's basic block, with an optional squeeze-and-excite (Hu et al. 2018)."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str, se: int = 0) -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, stride), nn.ReLU(), *conv_bn(cout, cout))
        self.se = (
            nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(cout, cout // se),
                nn.ReLU(),
                nn.Linear(cout // se, cout),
                nn.Sigmoid(),
            )
            if se
            else None
        )
        self.projection = None
        self.stride, self.extra = stride, cout - cin
        if (stride != 1 or cin != cout) and shortcut == "projection":
            self.projection = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.se is not None:
            y = y * self.se(y)[:, :, None, None]
        if self.projection is not None:
            s = self.projection(x)
        else:
            kept = x[:, :, :: self.stride, :: self.stride]
            s = nn.functional.pad(kept, (0, 0, 0, 0, 0, self.extra))
        return torch.relu(y + s)


class ResNetCifar(nn.Module):
    """He et al. 2016 §4.2: 3×3/16 stem, stages of basic blocks, global pool, Dense."""

    def __init__(
        self,
        channels: int,
        widths: tuple[int, ...] | int,
        shortcut: str,
        blocks: tuple[int, ...] = (3, 3, 3),
        se: int = 0,
        pool: bool = False,
    ) -> None:
        super().__init__()
        widths = widths if isinstance(widths, tuple) else (widths, 2 * widths, 4 * widths)
        layers: list[nn.Module] = [*conv_bn(channels, widths[0]), nn.ReLU()]
        if pool:  # the ImageNet stem's pool (He et al. 2016, Table 1), for a cheaper net
            layers.append(nn.MaxPool2d(2))
        cin = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(BasicBlock(cin, width, stride, shortcut, se))
                cin = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Inception(nn.Module):
    """Szegedy et al. 2015's module: 1×1, 1×1→3×3, 1×1→3×3→3×3 (for 5×5), pool→1×1."""

    def __init__(self, cin: int, b1: int, b2r: int, b2: int, b3r: int, b3: int, b4: int) -> None:
        super().__init__()

        def conv(i: int, o: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, k, padding=k // 2), nn.ReLU()]

        self.branches = nn.ModuleList(
            [
                nn.Sequential(*conv(cin, b1, 1)),
                nn.Sequential(*conv(cin, b2r, 1), *conv(b2r, b2, 3)),
                nn.Sequential(*conv(cin, b3r, 1), *conv(b3r, b3, 3), *conv(b3, b3, 3)),
                nn.Sequential(nn.MaxPool2d(3, 1, 1), *conv(cin, b4, 1)),
            ]
        )
        self.out_channels = b1 + b2 + b3 + b4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def inception_mini() -> nn.Module:
    first = Inception(32, 16, 16, 24, 8, 12, 12)
    return nn.Sequential(
        *conv_bn(3, 32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        first,
        Inception(first.out_channels, 16, 16, 24, 8, 12, 12),
        nn.MaxPool2d(2),
        Inception(first.out_channels, 32, 24, 32, 8, 16, 16),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.4),
        nn.Linear(96, 10),
    )


MOBILENET_CIFAR = (32, (64, 2), 64, (128, 2), 128, (256, 2), 256, 256, 256, 256, 256, (512, 2), 512)


def mobilenet_cifar() -> nn.Module:
    """Howard et al. 2017, Table 1 at width ×0.5, with a stride-1 stem for 32×32 images."""
    layers: list[nn.Module] = [*conv_bn(3, 16), nn.ReLU()]
    cin = 16
    for entry in MOBILENET_CIFAR:
        cout, stride = entry if isinstance(entry, tuple) else (entry, 1)
        layers += [
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        ]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


REFERENCES: dict[str, Callable[[], nn.Module]] = {
    "resnet20-cifar": lambda: ResNetCifar(3, 16, "pad"),
    "resnet-mnist": lambda: ResNetCifar(1, 16, "projection", blocks=(1, 1, 1), pool=True),
    "inception-mini": inception_mini,
    "mobilenet-cifar": mobilenet_cifar,
    "se-resnet-mini": lambda: ResNetCifar(3, 16, "projection", blocks=(2, 2, 2), se=4),
}


@pytest.mark.parametrize("name", BLOCK_TEMPLATES)
def test_block_template_counts_match_the_built_model_and_the_hand_written_one(name: str) -> None:
    spec = load_template(name)
    analysis = analyze(spec)
    assert analysis.diagnostics == (), [d.text() for d in analysis.diagnostics]
    model = build_model(spec, seed=0)
    reference = REFERENCES[name]()
    counts = (analysis.trainable_params, analysis.non_trainable_params)
    assert counts == (trainable(model), running_statistics(model))
    assert counts == (trainable(reference), running_statistics(reference))
    images = torch.randn(2, *spec.input.shape)
    model.eval()
    reference.eval()
    with torch.no_grad():
        assert model(images).shape == reference(images).shape == (2, spec.num_classes)


def multiply_adds(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one image through the convolutions and dense layers, counted
    by forward hooks on the torch modules."""
    total = 0

    def count(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            window = module.in_channels // module.groups * module.kernel_size[0]
            total += output[0].numel() * window * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            model.eval()(torch.randn(1, *shape))
    finally:
        for hook in hooks:
            hook.remove()
    return total


@pytest.mark.parametrize("name", BLOCK_TEMPLATES)
def test_block_template_multiply_adds_match_the_hand_written_network(name: str) -> None:
    spec = load_template(name)
    assert analyze(spec).macs == multiply_adds(REFERENCES[name](), spec.input.shape)


def test_the_readme_states_each_block_templates_totals() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name in BLOCK_TEMPLATES:
        analysis = analyze(load_template(name))
        (row,) = [line for line in readme.splitlines() if line.startswith(f"| `{name}` |")]
        total = analysis.trainable_params + analysis.non_trainable_params
        assert row.endswith(f" | {total:,} |"), name
        assert f"{analysis.trainable_params:,} trainable" in row, name
