"""Sweeps in the core: parsing `--set`, keys by name and by path, the grid, random draws,
checks before anything runs, the Pareto front, and the trials' run folders and results."""

from __future__ import annotations

import csv
import itertools
import json
import random
from pathlib import Path

import pytest

from explorer.core.app.preparation import BadRunInput
from explorer.core.app.sweep import (
    combinations,
    parse_axis,
    parse_value,
    plan_sweep,
    sweepable_keys,
)
from explorer.core.app.sweep_run import (
    FINISHED,
    PENDING,
    TrialData,
    best_first,
    pareto_front,
    read_result,
    start_trial,
    write_results,
)
from explorer.core.builder import build_model
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.templates import load_template
from explorer.core.training import TrainingFinished, load_checkpoint
from tests.core.blocks_by_hand import nested_spec


def _tiny_spec() -> NetworkSpec:
    spec = load_template("lenet5").with_layers(
        [
            LayerSpec.create("MaxPool2D", {"pool_size": 2}),
            LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
            LayerSpec.create("MaxPool2D", {"pool_size": 2}),
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}),
        ]
    )
    training = spec.training.with_values(
        dataset="shapes", optimizer="adam", batch_size=200, epochs=1, threads=1, device="cpu"
    )
    return NetworkSpec(
        name="tiny", input=spec.input, num_classes=10, layers=spec.layers, training=training
    )


def test_values_are_json_numbers_booleans_and_lists_else_text() -> None:
    assert parse_value("0.1") == 0.1 and parse_value("64") == 64
    assert parse_value("true") is True and parse_value("adam") == "adam"
    axis = parse_axis("conv2d_1.kernel_size=[3,3],5")
    assert axis.key == "conv2d_1.kernel_size" and axis.values == ([3, 3], 5)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("learning_rate", "'learning_rate'"),
        ("learning_rate=", "'learning_rate='"),
        ("learning_rate=0.1,,0.2", "learning_rate"),
        ("batch_size=64,64", "batch_size"),
    ],
)
def test_a_malformed_set_is_refused_naming_it(text: str, named: str) -> None:
    with pytest.raises(BadRunInput, match=named):
        parse_axis(text)


def test_the_grid_holds_every_combination_first_axis_slowest() -> None:
    axes = [parse_axis("learning_rate=0.1,0.01"), parse_axis("batch_size=64,128,256")]
    grid = combinations(axes)
    expected = [
        (("learning_rate", rate), ("batch_size", batch))
        for rate, batch in itertools.product([0.1, 0.01], [64, 128, 256])
    ]
    assert grid == expected


def test_a_random_draw_is_the_same_for_a_seed_and_a_subset_of_the_grid() -> None:
    axes = [parse_axis("learning_rate=0.1,0.03,0.01,0.003"), parse_axis("batch_size=32,64,128")]
    grid = combinations(axes)
    first = combinations(axes, sample=5, seed=7)
    assert first == combinations(axes, sample=5, seed=7)
    # the draw is Python's seeded sample of the grid's indices, independent of this code
    expected = sorted(random.Random(7).sample(range(12), 5))
    assert first == [grid[index] for index in expected]
    assert len(set(first)) == 5
    assert combinations(axes, sample=5, seed=8) != first
    with pytest.raises(BadRunInput, match="1 to 12"):
        combinations(axes, sample=13)


def test_training_and_layer_keys_by_name_change_each_trial_network(tmp_path: Path) -> None:
    spec = _tiny_spec()
    plan = plan_sweep(spec, ["learning_rate=0.1,0.01", "conv2d_1.filters=4,8"], tmp_path)
    assert [trial.describe() for trial in plan.trials] == [
        "learning_rate=0.1, conv2d_1.filters=4",
        "learning_rate=0.1, conv2d_1.filters=8",
        "learning_rate=0.01, conv2d_1.filters=4",
        "learning_rate=0.01, conv2d_1.filters=8",
    ]
    conv = next(path for path, name in spec.names().items() if name == "conv2d_1")
    for trial in plan.trials:
        values = dict(trial.values)
        assert trial.spec.training.learning_rate == values["learning_rate"]
        assert trial.spec.at(conv).get("filters") == values["conv2d_1.filters"]
        # the built network really has that many filters
        weight = dict(build_model(trial.spec).named_parameters())["conv2d_1.conv.weight"]
        assert weight.shape[0] == values["conv2d_1.filters"]
    assert {trial.folder_name for trial in plan.trials} == {f"trial-00{n}" for n in range(1, 5)}


def test_layers_inside_blocks_are_addressed_by_name_or_position_from_one(tmp_path: Path) -> None:
    spec = nested_spec()
    assert spec.name_of(LayerPath((1, 0, 0))) == "conv2d_2"
    by_path = plan_sweep(spec, ["2.1.1.filters=6"], tmp_path).trials[0].spec
    by_name = plan_sweep(spec, ["conv2d_2.filters=6"], tmp_path).trials[0].spec
    assert by_path == by_name
    assert by_path.at(LayerPath((1, 0, 0))).get("filters") == 6
    assert spec.at(LayerPath((1, 0, 0))).get("filters") == 4
    repeated = plan_sweep(spec, ["residual_1.repeat=1,3"], tmp_path).trials
    assert [trial.spec.at(LayerPath((1,))).get("repeat") for trial in repeated] == [1, 3]
    assert "residual_1.repeat" in sweepable_keys(spec)
    assert "conv2d_2.filters" in sweepable_keys(spec) and "epochs" in sweepable_keys(spec)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["learning_rat=0.1"], "did you mean 'learning_rate'"),
        (["conv2d_9.filters=2"], "no layer 'conv2d_9'"),
        (["9.filters=2"], "no layer at position 9"),
        (["conv2d_1.filter=2"], "Conv2D has no key 'filter'"),
        (["conv2d_1.filters=4,0"], r"conv2d_1\.filters=0: 'filters': 0 is out of range"),
        (["optimizer=adam,bogus"], "optimizer=bogus"),
        (["epochs=1", "epochs=2"], "epochs is given twice"),
        ([], "at least one --set"),
    ],
)
def test_bad_keys_and_values_are_refused_naming_the_key(
    tmp_path: Path, sets: list[str], message: str
) -> None:
    with pytest.raises(BadRunInput, match=message):
        plan_sweep(_tiny_spec(), sets, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_trial_the_analysis_rejects_stops_the_plan_naming_the_trial(tmp_path: Path) -> None:
    with pytest.raises(
        BadRunInput, match=r"(?s)trial 2 \(conv2d_1\.kernel_size=40\).*kernel 40 > input 14"
    ):
        plan_sweep(_tiny_spec(), ["conv2d_1.kernel_size=3,40"], tmp_path)


def test_the_pareto_front_matches_a_brute_force_check() -> None:
    rng = random.Random(3)
    for _ in range(50):
        points = [(rng.randint(1, 6), rng.randint(0, 6) / 6) for _ in range(rng.randint(1, 12))]
        front = set(pareto_front(points))
        for i, (cost, accuracy) in enumerate(points):
            dominated = any(
                (c <= cost and a >= accuracy and (c, a) != (cost, accuracy))
                for c, a in points[:i] + points[i + 1 :]
            )
            first_of_equals = points.index((cost, accuracy)) == i
            assert (i in front) == (not dominated and first_of_equals), (points, i)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_results_csv_rows_are_the_trials_own_metrics_and_checkpoints(tmp_path: Path) -> None:
    """A 2×2 sweep on the offline shapes set, each trial through `start_trial`."""
    plan = plan_sweep(
        _tiny_spec(), ["learning_rate=0.01,0.003", "conv2d_1.filters=2,4"], tmp_path / "sweep"
    )
    data = TrialData(None)
    assert [read_result(plan, trial).status for trial in plan.trials] == [PENDING] * 4
    for trial in plan.trials:
        run = start_trial(plan, trial, data.dataset(trial.spec, "cpu"), None)
        *_, last = run.events()
        assert isinstance(last, TrainingFinished)
    results = write_results(plan)
    with (plan.out / "results.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 4
    for row, trial, result in zip(rows, plan.trials, results, strict=True):
        folder = plan.out / trial.folder_name
        lines = (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines]
        epoch = [e for e in events if e["event"] == "epoch"][-1]
        finished = [e for e in events if e["event"] == "finished"][-1]
        for key in ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy"):
            assert float(row[key]) == epoch[key]
        assert float(row["test_accuracy"]) == finished["test_accuracy"]
        assert float(row["test_loss"]) == finished["test_loss"]
        assert float(row["time_s"]) == finished["elapsed"]
        assert row["status"] == FINISHED == result.status
        checkpoint = load_checkpoint(folder / "checkpoint.pt")
        assert checkpoint.spec.training.learning_rate == float(row["learning_rate"])
        weight = checkpoint.result_state()["conv2d_1.conv.weight"]
        assert weight.shape[0] == int(row["conv2d_1.filters"])
        model = build_model(trial.spec)
        assert int(row["params"]) == sum(p.numel() for p in model.parameters())
    accuracies = [r.validation_accuracy for r in best_first(results)]
    assert accuracies == sorted(accuracies, reverse=True)
    # the four trials learnt different things: the swept values reached the trainer
    assert len({row["train_loss"] for row in rows}) == 4
