"""`explain`: where the network looked for one image — an attribution map over the input
as a PNG and, with `--array`, the raw map as a float32 .npy (H, W)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_OK, late_help
from explorer.commands.common import (
    DATA_DIR_HELP,
    add_project_arguments,
    dataset_names,
    load_project_argument,
    run_reporting_errors,
)
from explorer.core.attribution_methods import METHODS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch

    from explorer.core.data import DeviceDataset
    from explorer.core.spec import NetworkSpec


class _BadInput(Exception):
    """Bad input found on the way; the message is for the user (exit 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_arguments(parser)
    parser.add_argument(
        "--weights",
        metavar="RUN_DIR_OR_CHECKPOINT",
        help="trained weights: a run folder, a checkpoint or a state_dict .pt (default: the "
        "weights saved with the project, else fresh weights from the project's seed)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", metavar="PATH", help="an image file (PNG, JPEG, BMP, ...)")
    source.add_argument(
        "--test-index", type=int, metavar="N", help="image N (from 0) of the dataset's test split"
    )
    dataset = parser.add_argument("--dataset", metavar="D", help="dataset (default: the project's)")
    late_help(
        dataset,
        lambda: (
            f"dataset: {dataset_names()}; its training statistics normalise the image, and "
            "--test-index picks from its test split (default: the project's)"
        ),
    )
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument(
        "--method",
        required=True,
        choices=METHODS,
        help="gradcam: Grad-CAM on a layer's maps; saliency: |gradient|; smoothgrad: saliency "
        "averaged over noisy copies; integrated-gradients: from a black image; occlusion: "
        "the drop in score when a patch is blanked",
    )
    parser.add_argument(
        "--layer",
        metavar="NAME",
        help="Grad-CAM's layer, by name (inside a block: `conv2d_3` or "
        "`residual_1.body.conv2d_3`; default: the last convolution)",
    )
    parser.add_argument(
        "--target",
        metavar="CLASS",
        help="the class explained, by index or name (default: the predicted class)",
    )
    parser.add_argument(
        "--opacity",
        type=float,
        default=0.6,
        metavar="A",
        help="opacity of the heat map over the image, 0 to 1 (default 0.6)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.png",
        help="the overlay picture to write (enlarged to at least 224 pixels a side)",
    )
    parser.add_argument(
        "--array",
        metavar="OUT.npy",
        help="also write the raw attribution at the input's height × width, float32",
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(_run, args, _BadInput)


def _run(args: argparse.Namespace) -> int:
    from explorer.core.attribution import AttributionError, attribution_model, blank_value, explain
    from explorer.core.attribution_methods import METHOD_LABELS
    from explorer.core.files import check_file_target

    loaded = load_project_argument(args)
    if loaded is None:
        return EXIT_BAD_INPUT
    spec = _checked_network(loaded, args.dataset)
    if not 0.0 <= args.opacity <= 1.0:
        raise _BadInput(f"--opacity must be between 0 and 1, not {args.opacity}")
    if args.test_index is not None and args.test_index < 0:
        raise _BadInput(f"--test-index must be 0 or more, not {args.test_index}")
    if args.image is not None and not Path(args.image).is_file():
        raise _BadInput(f"{args.image}: no such image file")
    for target in (args.output, args.array):
        if target is not None:
            check_file_target(target)  # a folder or device: refused before any work
    state, origin = _weights(args, spec)
    dataset = _dataset(spec, args.data_dir)
    pixels, image, where = _image(args, spec, dataset)
    names = dataset.info.class_names
    target = None if args.target is None else _class_index(args.target, names)
    model = attribution_model(spec, state)
    try:
        result = explain(
            model,
            image,
            args.method,
            target=target,
            layer=args.layer,
            blank=blank_value(dataset.mean, dataset.std),
        )
    except AttributionError as error:
        raise _BadInput(str(error)) from None
    _write(pixels, result.heat, args)
    method = METHOD_LABELS[result.method] + (f" on {result.layer}" if result.layer else "")
    p = result.probabilities
    print(
        f"wrote {args.output}{f' and {args.array}' if args.array else ''}: {method} of {where} "
        f"for class {_class_text(result.target, names)} (p={p[result.target]:.3f}); "
        f"predicted {_class_text(result.predicted, names)} (p={p[result.predicted]:.3f}); {origin}"
    )
    return EXIT_OK


def _checked_network(spec: NetworkSpec, dataset: str | None) -> NetworkSpec:
    from explorer.core.analysis import analyze
    from explorer.core.app.run_plan import with_settings
    from explorer.core.error_list import format_errors

    if dataset is not None:
        spec = with_settings(spec, {"dataset": dataset})
    errors = analyze(spec).errors
    if errors:
        raise _BadInput(format_errors(errors))
    return spec


def _weights(args: argparse.Namespace, spec: NetworkSpec) -> tuple[dict[str, Any] | None, str]:
    """The weights to explain and where they came from, as `export` chooses them."""
    from explorer.core.weights import WeightsError, load_project_members, load_weights

    try:
        if args.weights:
            state, members = load_weights(args.weights, spec)
            return state, _first_member(members) + f"trained weights from {args.weights}"
        if args.file:
            _, saved, members = load_project_members(args.file)
            if saved is not None:
                return saved, _first_member(members) + f"the weights saved with {args.file}"
    except WeightsError as error:
        raise _BadInput(str(error)) from None
    return None, f"freshly initialised weights (seed {spec.training.seed}, not trained)"


def _first_member(members: tuple[dict[str, Any], ...]) -> str:
    """An ensemble is explained through its first member (attribution follows one network's
    layers); the message says so."""
    return f"member 1 of an ensemble of {len(members)}, " if members else ""


def _dataset(spec: NetworkSpec, data_dir: str | None) -> DeviceDataset:
    from explorer.commands.datasets import ProgressBar
    from explorer.core.app.preparation import check_class_count, load_network_dataset

    bar = ProgressBar(sys.stderr)  # shows only if a download is needed
    try:
        dataset = load_network_dataset(spec, data_dir, "cpu", progress=bar)
    finally:
        bar.close()
    check_class_count(spec, dataset)
    return dataset


def _image(
    args: argparse.Namespace, spec: NetworkSpec, dataset: DeviceDataset
) -> tuple[npt.NDArray[np.uint8], torch.Tensor, str]:
    """The image's uint8 pixels (C, H, W), the normalised tensor, and how to name it."""
    from explorer.core.dataset_split import Split
    from explorer.core.images import ImageError, load_image_file, normalize_pixels

    if args.image is not None:
        try:
            converted = load_image_file(args.image, spec.input.shape)
        except ImageError as error:
            raise _BadInput(str(error)) from None
        image = normalize_pixels(converted.pixels, dataset.mean, dataset.std)
        return converted.pixels, image, Path(args.image).name
    size = dataset.size(Split.TEST)
    if args.test_index >= size:
        raise _BadInput(
            f"--test-index {args.test_index} is past the end: the test split has {size} images"
        )
    image, label = dataset.sample(Split.TEST, args.test_index)
    pixels = dataset.images(Split.TEST)[args.test_index].cpu().numpy().copy()
    names = dataset.info.class_names
    return pixels, image.cpu(), f"test image {args.test_index} ({_class_text(label, names)})"


def _class_index(text: str, names: tuple[str, ...]) -> int:
    """A class given by name or index (a name wins: a class may be called "3")."""
    if text in names:
        return names.index(text)
    try:
        index = int(text)
    except ValueError:
        raise _BadInput(
            f"--target {text!r} is not a class: give an index 0 to {len(names) - 1} or a name "
            f"({', '.join(names[:10])}{', …' if len(names) > 10 else ''})"
        ) from None
    if not 0 <= index < len(names):
        raise _BadInput(f"--target {index} is out of range: the classes are 0 to {len(names) - 1}")
    return index


def _class_text(index: int, names: tuple[str, ...]) -> str:
    name = names[index] if index < len(names) else ""
    return f"{index}" if name in ("", str(index)) else f"{index} {name!r}"


def _write(pixels: npt.NDArray[np.uint8], heat: npt.NDArray[np.float32], args: Any) -> None:
    import numpy as np

    from explorer.core.attribution_overlay import enlarged, overlay, write_png
    from explorer.core.files import write_stream_atomic

    write_png(enlarged(overlay(pixels, heat, args.opacity)), args.output)
    if args.array:
        array = np.ascontiguousarray(heat, dtype=np.float32)
        write_stream_atomic(args.array, lambda stream: np.save(stream, array))
