"""The command line as a user runs it: summary, templates, exit codes."""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli import COMMANDS, build_parser, main
from tests.processes import run_python

ROOT = Path(__file__).resolve().parents[1]


def test_summary_table_reads_like_keras(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--template", "keras-mnist"]) == 0
    out = capsys.readouterr().out
    assert 'Model: "Keras tutorial CNN (MNIST)"' in out
    assert "conv2d_1 (Conv2D)" in out and "(32, 24, 24)" in out
    assert "Total params: 62,346" in out
    assert "0 errors, 0 warnings" in out


def test_summary_json_has_the_design_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--template", "notebook-mnist", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 57_170
    assert data["trainable_params"] == 57_170 and data["non_trainable_params"] == 0
    assert data["errors"] == []
    first = data["layers"][0]
    assert set(first) >= {
        "name",
        "type",
        "input_shape",
        "output_shape",
        "params",
        "trainable_params",
        "non_trainable_params",
        "macs",
        "activation_bytes",
        "receptive_field",
        "diagnostic",
    }
    assert first["input_shape"] == [1, 28, 28] and first["output_shape"] == [8, 28, 28]
    assert first["receptive_field"] == {"size": [3, 3], "jump": [1, 1]}


def test_summary_of_a_network_with_errors_exits_2_and_shows_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad-kernel.json"
    path.write_text(
        json.dumps(
            {
                "format": "cnn-explorer",
                "version": 1,
                "input": {"channels": 1, "height": 6, "width": 6},
                "layers": [
                    {"type": "Conv2D", "filters": 4, "kernel_size": 7},
                    {"type": "Flatten"},
                    {"type": "Dense", "units": 10},
                ],
            }
        )
    )
    assert main(["summary", str(path)]) == 2
    out = capsys.readouterr().out
    assert "ERROR: kernel 7 > input 6: use padding 'same' or a smaller kernel" in out
    assert main(["summary", str(path), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["errors"][0]["layer"] == 0
    assert data["layers"][1]["output_shape"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "--template", "nope"], "unknown template 'nope'; templates: keras-mnist"),
        (["summary", "/does/not/exist.json"], "no such file"),
        (["summary"], "give either a project FILE or --template NAME"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_templates_lists_every_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "vgg16" in out and "138,357,544 params" in out


@pytest.mark.slow
def test_main_py_runs_headless_commands_in_a_fresh_process() -> None:
    result = run_python("main.py", "summary", "--template", "vgg16", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Total params: 138,357,544" in result.stdout
    bad = run_python("main.py", "summary", "--template", "x", cwd=ROOT)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "unknown template" in bad.stderr


def test_readme_layers_table_lists_every_registry_type_and_key() -> None:
    from explorer.core.layers import LAYER_TYPES
    from explorer.core.vocabulary.blocks import BLOCK_TYPES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Layers") : readme.index("## Project files")]
    rows = {
        line.split("|")[1].strip(): line
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("| type")
    }
    assert set(rows) == set(LAYER_TYPES) | set(BLOCK_TYPES)
    for name, block in BLOCK_TYPES.items():
        for key in (*block.keys, block.json_key):
            assert key in rows[name], (name, key)
    for name, entry in LAYER_TYPES.items():
        for key in entry.keys:
            assert key in rows[name], (name, key)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1.0K"),
        (460_800, "460.8K"),
        (999_949, "999.9K"),
        (999_950, "1.00M"),
        (3_276_800, "3.28M"),
        (999_999_999, "1.00G"),
        (15_470_264_320, "15.47G"),
    ],
)
def test_counts_are_shortened_with_the_unit_chosen_after_rounding(count: int, text: str) -> None:
    from explorer.core.summary import format_count

    assert format_count(count) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (40, "40 B"),
        (3 * 28 * 28 * 4 // 3, "3.06 KB"),
        (62_346 * 4, "243.54 KB"),
        (138_357_544 * 4, "527.79 MB"),
    ],
)
def test_bytes_use_binary_units_as_keras_prints_them(count: int, text: str) -> None:
    from explorer.core.summary import format_bytes

    assert format_bytes(count) == text


def test_piping_into_a_closed_reader_ends_quietly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`main.py templates | head -1`: the reader has gone, so writing raises BrokenPipeError."""

    class ClosedPipe:
        def __init__(self, descriptor: int) -> None:
            self._descriptor = descriptor  # a real descriptor, for the redirect

        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return self._descriptor

    with open(tmp_path / "stdout", "w") as target:
        monkeypatch.setattr(sys, "stdout", ClosedPipe(target.fileno()))
        assert main(["templates"]) == 0


# ---- version, help and the README's synopsis ------------------------------------------------


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    import explorer

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"cnn-explorer {explorer.__version__}\n"


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser by its command line: "", "summary", …, "datasets download"."""
    found: dict[str, argparse.ArgumentParser] = {}

    def visit(prefix: str, parser: argparse.ArgumentParser) -> None:
        found[prefix] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    visit(f"{prefix} {name}".strip(), child)

    visit("", build_parser())
    return found


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    ]


def test_every_option_and_command_has_help() -> None:
    for command, parser in _parsers().items():
        parser.format_help()  # fills in the texts that are made only when help is shown
        for action in _options(parser):
            assert action.help and action.help.strip(), (command, action.option_strings)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, (command, choice.dest)


def test_train_help_lists_every_dataset_of_the_catalogue(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from explorer.core.data import list_datasets

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for entry in list_datasets():
        assert entry.name in help_text
    assert "--batch-size B images per training step" in help_text
    assert "--seed S random seed" in help_text


def test_download_help_lists_the_downloadable_datasets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from explorer.core.data import list_datasets

    with pytest.raises(SystemExit):
        main(["datasets", "download", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    names = [entry.name for entry in list_datasets() if entry.downloadable]
    assert names and f"the dataset to download: {', '.join(names)}" in help_text


def test_no_command_module_imports_the_dispatcher() -> None:
    """cli.py imports the commands; they take exit codes and late help from below both."""
    import ast

    for path in sorted((ROOT / "explorer" / "commands").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert "explorer.cli" not in imported, path.name


def test_the_top_level_help_imports_neither_torch_nor_qt() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from explorer.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in ('torch', 'PySide6', 'numpy') if m in sys.modules))\n"
    )
    result = run_python("-c", probe, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _readme_synopsis() -> dict[str, str]:
    """The README's command-line synopsis: the text of each command's lines, by command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Command line") :]
    block = section[section.index("```\n") + 4 :]
    block = block[: block.index("```")]
    commands: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        if line.startswith("python main.py"):
            words = line.split("#")[0].split()[2:]
            current = words[0] if words and words[0] in COMMANDS else ""
        commands[current] = commands.get(current, "") + " " + line.split("#")[0]
    return commands


def test_the_readme_synopsis_lists_every_option_the_parsers_define() -> None:
    synopsis = _readme_synopsis()
    assert set(COMMANDS) <= set(synopsis)
    for command, parser in _parsers().items():
        # Words of the command's lines: options, choices (a|b), metavars, sub-actions.
        words = set(re.split(r"[\s\[\]()|]+", synopsis[command.split()[0] if command else ""]))
        if " " in command:  # a sub-action such as `datasets download`
            assert command.split()[1] in words, command
        for action in _options(parser):
            if not action.option_strings:
                continue  # positionals are named by their metavar (FILE, NAME)
            where = f"{action.option_strings} of {command or 'the top level'}"
            assert words & set(action.option_strings), f"{where} not in the README"
            for choice in action.choices or ():
                assert choice in words, f"{where}: {choice} not in the README"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`cnn-explorer`" in readme


def test_the_readme_says_where_settings_runs_and_the_cache_live() -> None:
    from explorer.core.data.locations import APP_DIR_NAME

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Where things live") :]
    section = section[: section.index("\n## ")]
    for fact in ("runs/", "recovery/", "settings", f"{APP_DIR_NAME}/datasets", "CNN_EXPLORER_DATA"):
        assert fact in section, fact
    assert "CNN_EXPLORER_CONFIG_DIR" in section


# ---- output that cannot be written -----------------------------------------------------------


class _FullDevice:
    """Standard output redirected to a full device: every write fails with ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    "command",
    [
        ["templates"],
        ["summary", "--template", "vgg16"],
        ["summary", "--json", "--template", "lenet5"],
    ],
)
def test_output_to_a_full_device_ends_with_one_line_and_exit_1(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _FullDevice())
    assert main(command) == 1
    assert capsys.readouterr().err == (
        "error: no space left on the device; free some space or write elsewhere\n"
    )


@pytest.fixture
def full_device(tmp_path: Path) -> Path:
    """A private node of the kernel's "full" device (1, 7), like /dev/full, in tmp_path."""
    node = tmp_path / "full"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        with open(node, "w") as probe:
            probe.write("x")
            probe.flush()
    except PermissionError:
        pytest.skip("creating a device node needs root")
    except OSError as error:
        if error.errno != errno.ENOSPC:
            pytest.skip(f"no full device here: {error}")
    return node


@pytest.mark.parametrize(
    "command", [["templates"], ["summary", "--template", "vgg16"], ["datasets"]]
)
@pytest.mark.slow
def test_commands_redirected_to_a_full_device_exit_1_with_one_line(
    command: list[str], full_device: Path, tmp_path: Path
) -> None:
    """`main.py templates > /dev/full`, with no "Exception ignored" from the exit-time flush."""
    with open(full_device, "w") as stdout:
        result = subprocess.run(
            [sys.executable, "main.py", *command, "--data-dir", str(tmp_path)]
            if command == ["datasets"]
            else [sys.executable, "main.py", *command],
            cwd=ROOT,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert (result.returncode, result.stderr) == (
        1,
        "error: no space left on the device; free some space or write elsewhere\n",
    )
