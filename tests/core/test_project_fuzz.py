"""Fuzzed project files through the real command line: every case ends with exit 0 or 2 and
a message, never a traceback or a hang.

Cases are seeded mutations of the template files (so every run tries the same cases and a
failure names the seed and the mutation): changes to the decoded JSON (hostile values in
any field, deleted and unknown keys, layers duplicated, swapped or retyped) and to the text
itself (cut, bytes inserted, replaced or deleted, a byte order mark). Each case runs through
`cli.main(["summary", FILE])` in this process, and its text, wrapped as the window's
recovery file, through `parse_recovery`; a few run as real `python main.py summary`
processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import signal
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from explorer import cli
from explorer.core.layers import LAYER_TYPES
from explorer.core.project import ProjectError, parse_recovery
from explorer.core.templates import TEMPLATES_DIR

CASES = 1000  # per run; the issue asks for at least 500
SUBPROCESS_CASES = 6
HANG_SECONDS = 60  # far above any real case (milliseconds): only a hang reaches it
REPO = Path(__file__).resolve().parents[2]

# Values that broke one part or another of earlier versions, and their neighbours.
HOSTILE_VALUES: list[Any] = [
    0,
    -1,
    1,
    2,
    3,
    7,
    10**6,
    2**31,
    2**40,
    2**63,
    10**30,
    10**400,
    -(10**400),
    0.5,
    -0.0,
    1e-300,
    1e308,
    -1e308,
    float("inf"),
    float("nan"),
    True,
    False,
    None,
    "",
    " ",
    "same",
    "valid",
    "relu",
    "softmax",
    "\ud800",
    "a\x00b",
    "\u202e",
    "x" * 300,
    "y" * 100_000,
    [],
    [1],
    [3, 3],
    [0, 0],
    [-1, 2],
    [1, 2, 3],
    [[2, 2]],
    {},
    {"type": "Conv2D"},
    "Conv2D",
    "😀",
]
KEYS = ["type", "name", "units", "filters", "kernel_size", "stride", "padding", "zzz", "\x00"]


@dataclass(frozen=True)
class Case:
    seed: int
    template: str
    mutation: str
    data: bytes

    def describe(self) -> str:
        text = self.data[:300].decode("utf-8", "backslashreplace")
        more = f" … ({len(self.data):,} bytes)" if len(self.data) > 300 else ""
        return f"seed {self.seed}, {self.template}: {self.mutation}\n    {text}{more}"


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, (*path, index))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return data


def _mutate_data(rng: random.Random, data: Any) -> tuple[Any, str]:
    nodes = list(_nodes(data))
    path, node = rng.choice(nodes)
    kind = rng.randrange(11)
    if kind >= 9:  # a plausible number: most such files are valid, and reach the analysis
        numbers = [
            (p, v) for p, v in nodes if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if numbers:
            path, number = rng.choice(numbers)
            value = rng.choice([number + 1, number - 1, number * 2, number // 2, 1, 3, 64, 4096])
            return _set(data, path, value), f"{list(path)} = {_short(value)}"
    if kind <= 2:
        value = rng.choice(HOSTILE_VALUES)
        return _set(data, path, value), f"{list(path)} = {_short(value)}"
    if kind == 3 and isinstance(node, dict) and node:
        key = rng.choice(list(node))
        del node[key]
        return data, f"del {list(path)}[{key!r}]"
    if kind == 4 and isinstance(node, dict):
        key, value = rng.choice(KEYS), rng.choice(HOSTILE_VALUES)
        node[key] = value
        return data, f"{list(path)}[{key!r}] = {_short(value)}"
    layers = data.get("layers") if isinstance(data, dict) else None
    if kind == 5 and isinstance(layers, list) and layers:
        layer = rng.choice(layers)
        if isinstance(layer, dict):
            layer["type"] = rng.choice(list(LAYER_TYPES))
            return data, f"a layer's type = {layer['type']}"
    if kind == 6 and isinstance(layers, list) and layers:
        index = rng.randrange(len(layers))
        layers.insert(rng.randrange(len(layers) + 1), json.loads(json.dumps(layers[index])))
        return data, f"layer {index} duplicated"
    if kind == 7 and isinstance(layers, list) and len(layers) > 1:
        rng.shuffle(layers)
        return data, "layers shuffled"
    # Nesting too deep for json.dumps: a marker that _dumps replaces in the text.
    depth = rng.choice([70, 500, 995, 3000])
    return _set(data, path, f"{_DEEP}{depth}"), f"{list(path)} = nested {depth} deep"


def _mutate_text(rng: random.Random, text: bytes) -> tuple[bytes, str]:
    kind = rng.randrange(6)
    at = rng.randrange(len(text) + 1)
    if kind == 0:
        return text[:at], f"cut at byte {at}"
    if kind == 1:
        byte = bytes([rng.randrange(256)])
        return text[:at] + byte + text[at:], f"byte {byte!r} inserted at {at}"
    if kind == 2:
        byte = bytes([rng.randrange(256)])
        return text[:at] + byte + text[at + 1 :], f"byte {at} replaced by {byte!r}"
    if kind == 3:
        return text[:at] + text[at + 1 :], f"byte {at} deleted"
    if kind == 4:
        return b"\xef\xbb\xbf" + text, "UTF-8 byte order mark"
    token = rng.choice([b"9" * 5000, b"1e999", b"NaN", b"-Infinity", b'"\\ud800"', b"\\u0000"])
    return text[:at] + token + text[at:], f"{token[:12]!r} inserted at {at}"


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "10**N"
    return text if len(text) <= 40 else text[:37] + "..."


_DEEP = "<nested:"


def _dumps(data: Any) -> str:
    # allow_nan: NaN and Infinity are what Python's json writes for them, so files have them.
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=True)
    return re.sub(rf'"{_DEEP}(\d+)"', lambda m: "[" * int(m[1]) + "]" * int(m[1]), text)


def fuzz_cases(count: int, first_seed: int = 0) -> list[Case]:
    templates = sorted(TEMPLATES_DIR.glob("*.json"))
    cases = []
    for seed in range(first_seed, first_seed + count):
        rng = random.Random(seed)
        template = templates[seed % len(templates)]
        original = template.read_text(encoding="utf-8")
        steps = []
        data = json.loads(original)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            data, step = _mutate_data(rng, data)
            steps.append(step)
        text = _dumps(data).encode("utf-8", "surrogatepass")
        if rng.random() < 0.3:
            text, step = _mutate_text(rng, text)
            steps.append(step)
        cases.append(Case(seed, template.stem, "; ".join(steps), text))
    return cases


class _Hang(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _run_summary(path: Path, extra: list[str]) -> tuple[str, str]:
    """Run the summary command in-process: ('exit 0' | 'exit 2' | ..., detail)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with (
            _deadline(HANG_SECONDS),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = cli.main(["summary", str(path), *extra])
    except _Hang:
        return "hang", ""
    except BaseException:  # what a user would see as a traceback
        return "traceback", traceback.format_exc(limit=-6)
    message = err.getvalue().strip() or out.getvalue().strip()
    if code not in (0, 2):
        return f"exit {code}", message
    if not message:
        return f"exit {code} without a message", ""
    if code == 2 and err.getvalue() and not err.getvalue().startswith("error: "):
        return "exit 2 with an odd message", err.getvalue()[:300]
    return f"exit {code}", message


def _check_recovery(case: Case) -> str | None:
    """The case's text as the window's recovery file: only ProjectError may come out."""
    try:
        text = case.data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # the window reads the file as UTF-8 first and says so
    try:
        with _deadline(HANG_SECONDS):
            parse_recovery('{"path": null, "project": ' + text + "\n}")
    except ProjectError:
        return None
    except _Hang:
        return "hang"
    except BaseException:
        return traceback.format_exc(limit=-6)
    return None


@pytest.mark.slow
def test_fuzzed_project_files_exit_0_or_2_with_a_message(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    counts: Counter[str] = Counter()
    failures: list[str] = []
    for case in fuzz_cases(CASES):
        path = tmp_path / f"case-{case.seed}.json"
        path.write_bytes(case.data)
        outcome, detail = _run_summary(path, ["--json"] if case.seed % 3 == 0 else [])
        counts["cases"] += 1
        counts[outcome] += 1
        if outcome not in ("exit 0", "exit 2"):
            failures.append(f"{outcome}: {case.describe()}\n{detail}")
        problem = _check_recovery(case)
        if problem is not None:
            counts["recovery " + ("hang" if problem == "hang" else "traceback")] += 1
            failures.append(f"recovery file: {case.describe()}\n{problem}")
        path.unlink()
    summary = ", ".join(f"{key}: {value}" for key, value in sorted(counts.items()))
    print(f"project-file fuzzer: {summary}")
    record_property("fuzz_counts", dict(counts))
    assert counts["cases"] >= 500
    assert counts["exit 0"] > 0 and counts["exit 2"] > 0  # the mutations reach both ends
    assert not failures, f"{len(failures)} failing case(s) ({summary}):\n\n" + "\n\n".join(
        failures[:10]
    )


@pytest.mark.slow
def test_fuzzed_files_through_real_processes_print_no_traceback(tmp_path: Path) -> None:
    cases = fuzz_cases(SUBPROCESS_CASES, first_seed=10_000)
    for case in cases:
        path = tmp_path / f"case-{case.seed}.json"
        path.write_bytes(case.data)
        result = subprocess.run(
            [sys.executable, str(REPO / "main.py"), "summary", str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=HANG_SECONDS * 2,
        )
        assert result.returncode in (0, 2), case.describe() + "\n" + result.stderr[-2000:]
        assert "Traceback" not in result.stderr, case.describe() + "\n" + result.stderr[-2000:]
        assert (result.stderr or result.stdout).strip(), case.describe()
