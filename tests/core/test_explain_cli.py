"""`explain` on the command line: the files it writes, what they hold, and exit 2 with a
message for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cli import main
from explorer.commands.base import EXIT_BAD_INPUT, EXIT_OK
from explorer.core.attribution import attribution_model, blank_value, explain
from explorer.core.builder import build_model
from explorer.core.data import load_dataset
from explorer.core.dataset_split import Split
from explorer.core.images import load_image_file, normalize_pixels
from explorer.core.templates import load_template


@pytest.fixture
def trained_run(tmp_path: Path) -> Path:
    """A run folder whose checkpoint holds weights other than the template's seed."""
    run = tmp_path / "run"
    run.mkdir()
    state = build_model(load_template("keras-mnist"), seed=99).state_dict()
    torch.save({"model": state, "epoch": 1}, run / "checkpoint.pt")
    return run


@pytest.mark.slow
def test_a_test_image_gives_the_overlay_and_the_raw_map_of_the_library(
    tmp_path: Path, real_datasets: Path, trained_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png, npy = tmp_path / "cam.png", tmp_path / "cam.npy"
    arguments = ["--template", "keras-mnist", "--weights", str(trained_run), "--test-index", "3"]
    code = main(
        [
            "explain",
            *arguments,
            "--data-dir",
            str(real_datasets),
            "--method",
            "gradcam",
            "--target",
            "5",
            "-o",
            str(png),
            "--array",
            str(npy),
        ]
    )
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "Grad-CAM on conv2d_2 of test image 3" in out and "for class 5" in out
    with Image.open(png) as picture:
        assert picture.size == (224, 224) and picture.mode == "RGB"
    heat = np.load(npy)
    assert heat.shape == (28, 28) and heat.dtype == np.float32
    # The same map made directly from the same weights and image.
    dataset = load_dataset("mnist", data_dir=real_datasets)
    spec = load_template("keras-mnist")
    model = attribution_model(spec, torch.load(trained_run / "checkpoint.pt")["model"])
    image = dataset.sample(Split.TEST, 3)[0]
    expected = explain(model, image, "gradcam", target=5)
    np.testing.assert_allclose(heat, expected.heat, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("method", ["saliency", "occlusion"])
def test_an_image_file_is_converted_like_the_windows_and_explained(
    tmp_path: Path, real_datasets: Path, method: str
) -> None:
    picture = tmp_path / "digit.png"
    canvas = np.zeros((40, 40, 3), np.uint8)
    canvas[8:32, 18:22] = 255  # a "1", in colour, larger than the input
    Image.fromarray(canvas).save(picture)
    npy = tmp_path / "map.npy"
    code = main(
        [
            "explain",
            "--template",
            "keras-mnist",
            "--image",
            str(picture),
            "--method",
            method,
            "--data-dir",
            str(real_datasets),
            "-o",
            str(tmp_path / "o.png"),
            "--array",
            str(npy),
        ]
    )
    assert code == EXIT_OK
    dataset = load_dataset("mnist", data_dir=real_datasets)
    pixels = load_image_file(picture, (1, 28, 28)).pixels
    image = normalize_pixels(pixels, dataset.mean, dataset.std)
    model = attribution_model(load_template("keras-mnist"), None)
    expected = explain(model, image, method, blank=blank_value(dataset.mean, dataset.std))
    np.testing.assert_allclose(np.load(npy), expected.heat, rtol=1e-5, atol=1e-8)


def test_the_built_in_shapes_dataset_needs_no_files(tmp_path: Path) -> None:
    png = tmp_path / "shapes.png"
    code = main(
        [
            "explain",
            "--template",
            "keras-mnist",
            "--dataset",
            "shapes",
            "--test-index",
            "0",
            "--method",
            "integrated-gradients",
            "--data-dir",
            str(tmp_path),
            "-o",
            str(png),
        ]
    )
    assert code == EXIT_OK and png.is_file()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--method", "gradcam", "--layer", "dense_1"], "'dense_1' has no spatial maps"),
        (["--method", "gradcam", "--layer", "nope"], "no layer named 'nope'; layers with maps"),
        (["--method", "saliency", "--target", "cat"], "--target 'cat' is not a class"),
        (["--method", "saliency", "--target", "10"], "--target 10 is out of range"),
        (["--method", "saliency", "--test-index", "99999"], "the test split has"),
        (["--method", "saliency", "--image", "missing.png"], "missing.png: no such image file"),
        (["--method", "saliency", "--opacity", "2"], "--opacity must be between 0 and 1"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    source = [] if "--image" in arguments or "--test-index" in arguments else ["--test-index", "0"]
    code = main(
        [
            "explain",
            "--template",
            "keras-mnist",
            "--dataset",
            "shapes",
            *source,
            *arguments,
            "--data-dir",
            str(tmp_path),
            "-o",
            str(tmp_path / "o.png"),
        ]
    )
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_an_unreadable_image_and_a_folder_as_output_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    common = ["explain", "--template", "keras-mnist", "--dataset", "shapes", "--method", "saliency"]
    assert main([*common, "--image", str(text), "-o", str(tmp_path / "o.png")]) == EXIT_BAD_INPUT
    assert "cannot read notes.png as an image" in capsys.readouterr().err
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main([*common, "--test-index", "0", "-o", str(folder)]) == EXIT_BAD_INPUT
    assert "folder" in capsys.readouterr().err


def test_unknown_method_and_missing_source_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "o.png")
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "explain",
                "--template",
                "keras-mnist",
                "--test-index",
                "0",
                "--method",
                "x",
                "-o",
                out,
            ]
        )
    assert stop.value.code == EXIT_BAD_INPUT
    with pytest.raises(SystemExit) as stop:
        main(["explain", "--template", "keras-mnist", "--method", "saliency", "-o", out])
    assert stop.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "invalid choice: 'x'" in err and "one of the arguments --image --test-index" in err


def test_a_project_saved_with_weights_is_explained_with_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from explorer.core.weights import save_project_with_weights

    spec = load_template("keras-mnist")
    state = build_model(spec, seed=7).state_dict()
    project = tmp_path / "net.json"
    save_project_with_weights(spec, state, project)
    npy = tmp_path / "map.npy"
    common = ["explain", "--dataset", "shapes", "--data-dir", str(tmp_path), "--test-index", "1"]
    out = ["--method", "saliency", "-o", str(tmp_path / "o.png"), "--array", str(npy)]
    assert main([*common, str(project), *out]) == EXIT_OK
    assert f"the weights saved with {project}" in capsys.readouterr().out
    dataset = load_dataset("shapes", data_dir=tmp_path, input_size=(28, 28), grayscale=True)
    image = dataset.sample(Split.TEST, 1)[0]
    expected = explain(attribution_model(spec, state), image, "saliency")
    np.testing.assert_allclose(np.load(npy), expected.heat, rtol=1e-5, atol=1e-9)


def test_weights_of_another_network_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.pt"
    torch.save(build_model(load_template("lenet5"), seed=0).state_dict(), other)
    code = main(
        [
            "explain",
            "--template",
            "keras-mnist",
            "--weights",
            str(other),
            "--dataset",
            "shapes",
            "--test-index",
            "0",
            "--method",
            "gradcam",
            "-o",
            str(tmp_path / "o.png"),
        ]
    )
    assert code == EXIT_BAD_INPUT
    assert "the weights do not match the network" in capsys.readouterr().err


def test_gradcam_on_a_layer_inside_a_block_of_a_project_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from explorer.core.project import save_project
    from tests.core.test_attribution import block_spec

    project = tmp_path / "blocks.json"
    save_project(block_spec(classes=10), project)
    common = [str(project), "--dataset", "shapes", "--data-dir", str(tmp_path), "--test-index"]
    out = ["-o", str(tmp_path / "o.png"), "--method", "gradcam", "--layer"]
    assert main(["explain", *common, "2", *out, "conv2d_5"]) == EXIT_OK
    assert "Grad-CAM on parallel_1.branches.1.conv2d_5" in capsys.readouterr().out
    assert main(["explain", *common, "2", *out, "conv2d_2"]) == EXIT_BAD_INPUT
    assert "in several copies of a repeated block" in capsys.readouterr().err
