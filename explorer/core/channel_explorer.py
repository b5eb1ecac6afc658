"""What one channel of a layer responds to: its top test images, the input patch its best
position sees, and an image made to excite it (activation maximisation).

`channel_maxima` makes one pass over a split and keeps, for every image and every channel of
the layer, the largest value of the map and where it is, so picking another channel costs
nothing. `receptive_box` gives the input pixels one output position can see, from the same
window arithmetic the analysis uses (coverage.py), so the crop is exact at the borders too.

Shapes are (C, H, W) without the batch dimension; positions are (row, column) on the map;
boxes are half-open (top, left, bottom, right) in input pixels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

from explorer.core.analysis import Analysis, analyze
from explorer.core.builder import Network
from explorer.core.coverage import AxisStep, inputs_reaching
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, InputSpec, NetworkSpec
from explorer.core.walk_parts import axis_steps

__all__ = [
    "Box",
    "ChannelMaxima",
    "MaximisedImage",
    "centred_response",
    "channel_maxima",
    "crop",
    "forward_to",
    "maximise_channel",
    "receptive_box",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


class _Reached(Exception):
    """Raised by the hook once the chosen layer has run: the rest of the network is skipped."""


@contextmanager
def _layer_output(model: Network, path: LayerPath) -> Iterator[list[torch.Tensor]]:
    """While open, each forward of `model` stops after the layer at `path` and leaves its
    output in the yielded list (one entry, replaced per call). The hook is removed on exit."""
    module = model.module_at(path)
    seen: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        seen[:] = [output]
        raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def forward_to(model: Network, path: LayerPath, images: torch.Tensor) -> torch.Tensor:
    """The output of the layer at `path` for a batch (N, C, H, W), running only the layers
    up to it. Autograd and mode are the caller's (this is used with and without gradients)."""
    with _layer_output(model, path) as seen, suppress(_Reached):
        model(images)
    if not seen:
        raise ValueError(f"the layer at {path} did not run in the forward pass")
    return seen[0]


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    training = [module for module in model.modules() if module.training]
    for module in training:
        module.training = False
    try:
        yield
    finally:
        for module in training:
            module.training = True


@dataclass(frozen=True, eq=False)
class ChannelMaxima:
    """Per image and channel of one layer: the map's largest value and where it is.

    `maxima` is (N, C) float32; `positions` (N, C) int64 flat indices row·W + column into
    the (H, W) map, the first of equal maxima; images are indexed as in the split.
    """

    path: LayerPath
    split: Split
    map_size: tuple[int, int]
    maxima: FloatArray
    positions: IntArray

    @property
    def channels(self) -> int:
        return int(self.maxima.shape[1])

    def top(self, channel: int, k: int = 9) -> IntArray:
        """The `k` images whose map of `channel` peaks highest, highest first (equal peaks
        in split order)."""
        if not 0 <= channel < self.channels:
            raise ValueError(f"channel {channel} is not in 0..{self.channels - 1}")
        order = np.argsort(-self.maxima[:, channel], kind="stable")
        return order[:k].astype(np.int64)

    def position(self, index: int, channel: int) -> tuple[int, int]:
        """(row, column) of the peak of `channel` on image `index`."""
        row, column = divmod(int(self.positions[index, channel]), self.map_size[1])
        return row, column

    def peak(self, index: int, channel: int) -> float:
        """The largest value of `channel`'s map on image `index`."""
        return float(self.maxima[index, channel])

    @property
    def ranked(self) -> int:
        """How many images were ranked."""
        return int(self.maxima.shape[0])


def channel_maxima(
    model: Network,
    dataset: DeviceDataset,
    path: LayerPath,
    split: Split = Split.TEST,
    *,
    batch_size: int = 500,
    cancel: threading.Event | None = None,
) -> ChannelMaxima | None:
    """One pass over `split`: every channel's peak on every image at the layer at `path`
    (which must give maps (C, H, W)). Runs on the model's device, in eval mode (restored
    afterwards), without autograd; None when `cancel` was set before the end. Scales with
    the split: run it off the GUI thread."""
    device = next((p.device for p in model.parameters()), dataset.device)
    maxima: list[torch.Tensor] = []
    positions: list[torch.Tensor] = []
    map_size = (0, 0)
    with _eval_mode(model), torch.inference_mode():
        for images, _ in dataset.batches(split, batch_size):
            if cancel is not None and cancel.is_set():
                return None
            out = forward_to(model, path, images.to(device))
            if out.dim() != 4:
                raise ValueError(
                    f"the layer at {path} gives vectors {tuple(out.shape[1:])}, not maps"
                )
            map_size = (int(out.shape[2]), int(out.shape[3]))
            peak, where = out.flatten(2).max(dim=2)
            maxima.append(peak.float())
            positions.append(where)
    if not maxima:
        raise ValueError(f"the {split} split is empty")
    return ChannelMaxima(
        path,
        split,
        map_size,
        torch.cat(maxima).cpu().numpy().astype(np.float32),
        torch.cat(positions).cpu().numpy().astype(np.int64),
    )


@dataclass(frozen=True)
class Box:
    """Input pixels rows top..bottom-1, columns left..right-1."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def size(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left


def _windows(
    spec: NetworkSpec, path: LayerPath, analysis: Analysis | None
) -> tuple[tuple[AxisStep, ...], tuple[AxisStep, ...]]:
    """The row and column windows from the input to the output of the layer or block at
    `path`, at any depth (inside a repeated block: its first copy, whose maps the capture
    shows); ValueError when it gives no maps."""
    if analysis is None:
        analysis = analyze(spec)
    try:
        out = analysis.at(path).output_shape
    except LookupError as error:
        raise ValueError(str(error)) from error
    if out is None or len(out) != 3:
        raise ValueError(f"{path} gives no maps")
    top = path.steps[0]
    if path.depth == 1:
        return axis_steps(analysis.windows_before(top + 1))
    # The windows before the block, then those of its sub-stack up to the layer, as the
    # analysis of that sub-stack alone on the block's input finds them.
    block = spec.layers[top]
    block_input = analysis.layers[top].input_shape
    assert isinstance(block, BlockSpec) and block_input is not None and len(block_input) == 3
    stack, index = path.steps[1], path.steps[2]
    inner = NetworkSpec(input=InputSpec(*block_input), layers=block.stacks[stack][: index + 1])
    inner_rows, inner_columns = _windows(inner, LayerPath(path.steps[2:]), None)
    rows, columns = axis_steps(analysis.windows_before(top))
    return rows + inner_rows, columns + inner_columns


def _span(windows: tuple[AxisStep, ...], position: int) -> tuple[int, int] | None:
    bits = inputs_reaching(windows, 1 << position) if windows else 1 << position
    if bits == 0:
        return None  # only padding
    return (bits & -bits).bit_length() - 1, bits.bit_length()


def receptive_box(
    spec: NetworkSpec,
    path: LayerPath,
    position: tuple[int, int],
    analysis: Analysis | None = None,
) -> Box | None:
    """The input pixels output position (row, column) of the layer or block at `path` (at
    any depth) can see, clipped to the input: the bounding box, for dilated kernels with
    gaps or blocks whose branches reach differently; None when it sees only padding or
    gives no maps. Pass `spec`'s `analysis` when you have it."""
    try:
        rows, columns = _windows(spec, path, analysis)
    except ValueError:
        return None
    vertical, horizontal = _span(rows, position[0]), _span(columns, position[1])
    if vertical is None or horizontal is None:
        return None
    return Box(vertical[0], horizontal[0], vertical[1], horizontal[1])


def crop(image: npt.NDArray[np.generic], box: Box) -> npt.NDArray[np.generic]:
    """The part of an image (C, H, W) inside `box`."""
    return image[:, box.top : box.bottom, box.left : box.right]


@dataclass(frozen=True, eq=False)
class MaximisedImage:
    """An input (C, H, W), normalised like the dataset's, made to excite one channel;
    `activation` is the channel's `centred_response` to it, `start_activation` to the
    random start."""

    path: LayerPath
    channel: int
    image: FloatArray
    activation: float
    start_activation: float


STARTS = 8


def _blur(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([1.0, 2.0, 1.0], device=x.device) / 4.0
    kernel2d = (kernel[:, None] * kernel[None, :]).expand(x.shape[1], 1, 3, 3)
    return functional.conv2d(
        functional.pad(x, (1, 1, 1, 1), mode="replicate"), kernel2d, groups=x.shape[1]
    )


def maximise_channel(
    model: Network,
    path: LayerPath,
    channel: int,
    *,
    steps: int = 160,
    value_range: tuple[float, float] = (-1.0, 3.0),
    seed: int = 0,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> MaximisedImage | None:
    """Gradient ascent on an input for `channel`'s `centred_response` at `path`.

    Regularised as feature-visualisation work does (Olah et al., 2017) so the result is a
    smooth, digit-sized pattern rather than high-frequency noise: the image is jittered by up
    to 2 pixels each step, blurred every few steps, pulled towards the darkest value (L2),
    penalised for total variation, and kept inside `value_range` (the normalised values real
    pixels take). It starts from the best of `STARTS` random images (a channel no start
    excites has no gradient and stays where it started). The model's weights are not changed
    and get no gradients. None when `cancel` was set; `progress(step)` is called every 10
    steps. Runs on the model's device."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed)
    low, high = value_range
    starts = 0.5 * torch.randn((STARTS, *model.input_shape), generator=generator)
    with _eval_mode(model), torch.enable_grad():
        # The best of a few random starts: a ReLU channel that is 0 on one start has no
        # gradient to climb there.
        with torch.no_grad():
            responses = centred_response(forward_to(model, path, starts.to(device)), channel)
        best = int(responses.argmax())
        start_value = float(responses[best])
        x = starts[best : best + 1].clone().to(device).requires_grad_(True)
        optimiser = torch.optim.Adam([x], lr=0.05)
        for step in range(steps):
            if cancel is not None and cancel.is_set():
                return None
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=generator))
            shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            out = forward_to(model, path, shifted)
            if out.dim() != 4:
                raise ValueError(f"the layer at {path} gives vectors, not maps")
            objective = centred_response(out, channel)[0]
            total_variation = (x[:, :, 1:] - x[:, :, :-1]).abs().mean() + (
                x[:, :, :, 1:] - x[:, :, :, :-1]
            ).abs().mean()
            # L2 towards the darkest value: what the pattern does not need fades to the
            # background (black for MNIST-like data) rather than staying as noise.
            loss = -objective + 0.05 * (x - low).square().mean() + 0.05 * total_variation
            (gradient,) = torch.autograd.grad(loss, x)
            x.grad = gradient
            optimiser.step()
            with torch.no_grad():
                if step % 4 == 3:
                    x.copy_(_blur(x))
                x.clamp_(low, high)
            if progress is not None and step % 10 == 9:
                progress(step + 1)
        final = x.detach()
        value = _channel_mean(model, path, channel, final)
    return MaximisedImage(
        path, channel, final[0].cpu().numpy().astype(np.float32), value, start_value
    )


def _channel_mean(model: Network, path: LayerPath, channel: int, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(centred_response(forward_to(model, path, x), channel)[0])


def centred_response(maps: torch.Tensor, channel: int) -> torch.Tensor:
    """Per image of a batch of maps (N, C, H, W): `channel`'s mean weighted by a Gaussian
    centred on the map (standard deviation a quarter of its size), so what excites it is a
    pattern in the middle of the image, as big as a digit, not a texture tiled to the edges."""
    height, width = maps.shape[2], maps.shape[3]
    rows = torch.arange(height, device=maps.device, dtype=maps.dtype) - (height - 1) / 2
    columns = torch.arange(width, device=maps.device, dtype=maps.dtype) - (width - 1) / 2
    sigma_r, sigma_c = max(height / 4, 0.5), max(width / 4, 0.5)
    weight = torch.exp(-0.5 * ((rows / sigma_r)[:, None] ** 2 + (columns / sigma_c)[None] ** 2))
    return (maps[:, channel] * (weight / weight.sum())).sum(dim=(1, 2))
