"""The summary of a network with blocks: nested rows indented by depth with each block's
subtotals and repeat count, and `--json` carrying the tree (paths and children)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.core.analysis import analyze
from explorer.core.project import save_project
from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec
from explorer.core.summary import summary_json, summary_text, table_rows

L = LayerSpec.create


def network() -> NetworkSpec:
    conv = L("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"})
    squeeze = BlockSpec.create(
        "Parallel",
        {"merge": "multiply"},
        [[], [L("GlobalAvgPool2D"), L("Dense", {"units": 4, "activation": "sigmoid"})]],
    )
    return NetworkSpec(
        name="blocks",
        input=InputSpec(1, 8, 8),
        layers=(
            conv,
            BlockSpec.create("Residual", {"repeat": 3}, [[conv, L("BatchNorm"), squeeze]]),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )


def test_the_table_indents_nested_rows_and_gives_block_subtotals() -> None:
    spec = network()
    analysis = analyze(spec)
    rows = table_rows(analysis)
    titles = [row[0] for row in rows]
    assert titles == [
        "input",
        "conv2d_1 (Conv2D)",
        "residual_1 (Residual ×3)",
        "  conv2d_2 (Conv2D)",
        "  batch_norm_1 (BatchNorm)",
        "  parallel_1 (Parallel)",
        "    [2] global_avg_pool2d_1 (GlobalAvgPool2D)",
        "        dense_1 (Dense)",
        "flatten_1 (Flatten)",
        "dense_2 (Dense)",
    ]
    block = analysis.layers[1]
    # three copies of conv (4·9·4 + 4), BatchNorm (8 + 8) and the gate (4·4 + 4)
    assert block.params == 3 * (148 + 16 + 20)
    assert rows[2][2] == f"{block.params:,}"
    text = summary_text(spec, analysis)
    assert "residual_1 (Residual ×3)" in text and "        dense_1 (Dense)" in text
    assert f"Total params: {analysis.params:,}" in text


def test_the_json_carries_the_tree_with_paths() -> None:
    spec = network()
    data = summary_json(spec, analyze(spec))
    assert [layer["name"] for layer in data["layers"]] == [
        "conv2d_1",
        "residual_1",
        "flatten_1",
        "dense_2",
    ]
    block = data["layers"][1]
    assert block["path"] == [1] and block["repeat"] == 3
    (body,) = block["children"]
    assert [layer["path"] for layer in body] == [[1, 0, 0], [1, 0, 1], [1, 0, 2]]
    gate = body[2]["children"]
    assert gate[0] == [] and gate[1][1]["path"] == [1, 0, 2, 1, 1]
    assert gate[1][1]["output_shape"] == [4]
    assert "children" not in data["layers"][0]


def test_summary_of_a_saved_file_with_blocks_names_nested_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = network()
    path = tmp_path / "blocks.json"
    save_project(spec, path)
    assert main(["summary", str(path)]) == 0
    assert "  conv2d_2 (Conv2D)" in capsys.readouterr().out

    inner = L("Conv2D", {"filters": 4, "kernel_size": 9})  # larger than the 8×8 maps
    broken = spec.replace_at(next(p for p, _ in spec.walk() if p.steps == (1, 0, 0)), inner)
    save_project(broken, path)
    assert main(["summary", str(path), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    (error,) = data["errors"]
    assert error["layer"] == 1 and error["path"] == [1, 0, 0]
    assert "kernel 9" in error["message"]
    assert main(["summary", str(path)]) == 2
    assert "^ ERROR: kernel 9" in capsys.readouterr().out
