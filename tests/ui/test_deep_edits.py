"""Edits of a deep network are worked out on a task thread and end as synchronous ones do."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from explorer.core.analysis import Analysis, analyze
from explorer.core.paths import LayerPath
from explorer.core.project import load_project, parse_recovery
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.ui.common import deep_edits
from explorer.ui.common import document as document_module
from explorer.ui.common.document import ProjectDocument
from explorer.ui.shell.main_window import MainWindow

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from gui_stall import deep_network

Edit = Callable[[ProjectDocument], object]

EDITS: dict[str, list[Edit]] = {
    "insert": [lambda d: d.insert_layers(LayerPath.top(600), [LayerSpec.new("Conv2D")])],
    "remove": [lambda d: d.remove_layers([LayerPath.top(7)])],
    "rename": [
        lambda d: d.replace_layer(
            LayerPath.top(9), d.spec.layers[9].with_name("in_the_middle"), "name"
        )
    ],
    "typing": [  # one undo step, as a spin box's values are
        lambda d: d.replace_layer(LayerPath.top(8), d.spec.layers[8].with_values(filters=5), "f"),
        lambda d: d.replace_layer(LayerPath.top(8), d.spec.layers[8].with_values(filters=6), "f"),
    ],
    "move": [lambda d: d.move_by([LayerPath.top(500)], -1)],
    "duplicate": [lambda d: d.duplicate_layers([LayerPath.top(300)])],
    "five inserts, three undos": [
        *(
            lambda d, i=i: d.insert_layers(LayerPath.top(100 * i), [LayerSpec.new("Conv2D")])
            for i in range(5)
        ),
        *(lambda d: d.undo_stack.undo() for _ in range(3)),
    ],
    "insert, remove, undo, redo": [
        lambda d: d.insert_layers(LayerPath.top(2), [LayerSpec.new("Dropout")]),
        lambda d: d.remove_layers([LayerPath.top(400), LayerPath.top(401)]),
        lambda d: d.undo_stack.undo(),
        lambda d: d.undo_stack.redo(),
    ],
}


@pytest.fixture(scope="module")
def deep() -> NetworkSpec:
    spec: NetworkSpec = deep_network(1_200)  # over DEEP_EDIT_LAYERS
    return spec


@pytest.fixture
def make_document() -> Iterator[Callable[[NetworkSpec], ProjectDocument]]:
    """Documents whose thread is joined after the test (a window's is when it closes)."""
    made: list[ProjectDocument] = []

    def make(spec: NetworkSpec) -> ProjectDocument:
        made.append(ProjectDocument(spec))
        return made[-1]

    yield make
    for document in made:
        document.stop_editing()


def opened_window(qtbot: QtBot, spec: NetworkSpec) -> MainWindow:
    """A window showing `spec`, once its background first analysis is in."""
    window = MainWindow(spec)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.document.analysing, timeout=60_000)
    return window


def synchronous(
    spec: NetworkSpec, edits: list[Edit], monkeypatch: pytest.MonkeyPatch
) -> ProjectDocument:
    with monkeypatch.context() as patch:
        patch.setattr(deep_edits, "DEEP_EDIT_LAYERS", 10**9)
        patch.setattr(deep_edits, "DEEP_ANALYSIS_LAYERS", 10**9)
        document = ProjectDocument(spec)
        for edit in edits:
            edit(document)
        assert not document.editing
    return document


def settled(qtbot: QtBot, document: ProjectDocument) -> None:
    qtbot.waitUntil(lambda: not document.editing, timeout=20_000)


@pytest.mark.parametrize("name", list(EDITS))
def test_a_deep_edit_ends_as_the_synchronous_one(
    qtbot: QtBot,
    deep: NetworkSpec,
    monkeypatch: pytest.MonkeyPatch,
    make_document: Callable[[NetworkSpec], ProjectDocument],
    name: str,
) -> None:
    reference = synchronous(deep, EDITS[name], monkeypatch)
    monkeypatch.setattr(deep_edits, "DEEP_ANALYSIS_LAYERS", 1_000)  # a rename's too
    document = make_document(deep)
    own: list[bool] = []  # whether each spec the views were shown came with its own analysis
    document.spec_changed.connect(lambda _: own.append(document.analysis == analyze(document.spec)))
    for edit in EDITS[name]:
        edit(document)
    if "undo" not in name:
        assert document.editing  # worked out in the background
        assert document.spec is deep or name == "typing"  # (its second value: the first shown)
    settled(qtbot, document)
    assert document.spec == reference.spec
    assert document.analysis == analyze(reference.spec)  # from scratch
    assert document.undo_stack.index() == reference.undo_stack.index()
    assert document.undo_stack.count() == reference.undo_stack.count()
    assert [document.undo_stack.text(i) for i in range(document.undo_stack.count())] == [
        reference.undo_stack.text(i) for i in range(reference.undo_stack.count())
    ]
    assert own and all(own)
    document.undo_stack.setIndex(0)
    assert document.spec == deep and document.analysis == analyze(deep)
    document.undo_stack.setIndex(document.undo_stack.count())
    settled(qtbot, document)
    assert document.analysis == analyze(document.spec)


def test_redo_of_a_fresh_deep_edit_does_not_analyse_again(
    qtbot: QtBot,
    deep: NetworkSpec,
    monkeypatch: pytest.MonkeyPatch,
    make_document: Callable[[NetworkSpec], ProjectDocument],
) -> None:
    document = make_document(deep)
    document.insert_layers(LayerPath.top(5), [LayerSpec.new("Conv2D")])
    settled(qtbot, document)
    inserted, analysis = document.spec, document.analysis
    calls: list[NetworkSpec] = []

    def counted(spec: NetworkSpec, **options: Any) -> Analysis:
        calls.append(spec)
        return analyze(spec, **options)

    for module in (deep_edits, document_module):  # on the thread, and on this one
        monkeypatch.setattr(module, "analyze", counted)
    document.undo_stack.undo()
    document.undo_stack.redo()
    assert not document.editing and not calls
    assert document.spec is inserted and document.analysis is analysis


def test_a_deep_edit_that_does_not_fit_is_dropped(
    qtbot: QtBot, deep: NetworkSpec, make_document: Callable[[NetworkSpec], ProjectDocument]
) -> None:
    document = make_document(deep)
    assert document.move_layers([LayerPath.top(3)], LayerPath((3, 0, 0)))  # into a layer
    settled(qtbot, document)
    assert document.spec is deep
    assert document.undo_stack.count() == 0 and document.is_clean


def test_saving_during_a_deep_edit_saves_it(
    qtbot: QtBot, deep: NetworkSpec, tmp_path: Path
) -> None:
    window = opened_window(qtbot, deep)
    window.document.remove_layers([LayerPath.top(0)])
    assert window.document.editing and window.document.spec is deep
    assert window.files.save_to(str(tmp_path / "deep.json"))
    assert load_project(str(tmp_path / "deep.json")) == window.document.spec
    assert len(window.document.spec.layers) == len(deep.layers) - 1
    assert window.document.is_clean


def test_the_recovery_file_written_during_a_deep_edit_holds_it(
    qtbot: QtBot, deep: NetworkSpec
) -> None:
    window = opened_window(qtbot, deep)
    window.document.insert_layers(LayerPath.top(3), [LayerSpec.new("Dropout")])
    assert window.document.editing and window.document.spec is deep
    window.recovery.save_now()  # (what the autosave timer, or quitting, does)
    spec, _ = parse_recovery(window.recovery.path.read_text(encoding="utf-8"))
    assert spec == window.document.spec and spec.layers[3].type == "Dropout"


def test_opening_another_network_drops_a_deep_edit(
    qtbot: QtBot, deep: NetworkSpec, make_document: Callable[[NetworkSpec], ProjectDocument]
) -> None:
    document = make_document(deep)
    document.insert_layers(LayerPath.top(1), [LayerSpec.new("Conv2D")])
    other = NetworkSpec(layers=(LayerSpec.new("Flatten"),))
    document.reset(other)
    settled(qtbot, document)
    assert document.spec is other and document.undo_stack.count() == 0


def test_closing_during_a_deep_edit_leaves_no_thread(
    qtbot: QtBot, deep: NetworkSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = opened_window(qtbot, deep)
    started, release = threading.Event(), threading.Event()
    work_out = deep_edits.work_out

    def held(*arguments: Any) -> deep_edits.Outcome:  # the job, held until released
        started.set()
        release.wait(10)
        return work_out(*arguments)

    monkeypatch.setattr(deep_edits, "work_out", held)
    window.document.insert_layers(LayerPath.top(1), [LayerSpec.new("Conv2D")])
    runner = window.document._edits._runner
    # The thread starts once the turn that made the edit is over (that turn's painting
    # would otherwise share the interpreter with it).
    assert runner.running_thread is None and window.document._edits.busy
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert runner.running_thread is not None
    threading.Timer(0.2, release.set).start()  # still running as the window closes
    assert not window.document.is_clean  # closing would ask to save it (which settles it)
    window.document.undo_stack.setClean()  # (no "unsaved changes" question)
    window.close()
    assert window.is_shut_down and runner.running_thread is None and not runner.busy
    assert window.document.spec is deep  # dropped: the window shows what it showed


def test_training_and_export_see_a_deep_edit_still_being_worked_out(
    qtbot: QtBot, deep: NetworkSpec, make_document: Callable[[NetworkSpec], ProjectDocument]
) -> None:
    document = make_document(deep)
    document.remove_layers([LayerPath.top(0)])
    assert document.editing and document.spec is deep
    # what the export reads: the network with the edit, not the one still shown
    assert len(document.settled_spec().layers) == len(deep.layers) - 1
    document.undo_stack.undo()
    document.insert_layers(LayerPath.top(3), [LayerSpec.new("Dropout")])
    assert document.editing
    document.set_locked(True)  # what Train does before it reads the spec
    assert document.spec.layers[3].type == "Dropout"
    assert document.analysis == analyze(document.spec)


def test_a_network_with_blocks_is_deep_at_fewer_rows(qtbot: QtBot) -> None:
    rows = 602  # 200 blocks of 2 layers, Flatten and Dense: 202 + 3 × 400 rows counted
    flat, in_blocks = deep_network(rows), deep_network(rows, blocks=True)
    assert flat.size == in_blocks.size == rows and in_blocks.has_blocks
    weighted = len(in_blocks.layers) + deep_edits.BLOCK_WEIGHT * (rows - len(in_blocks.layers))
    assert rows < deep_edits.DEEP_EDIT_LAYERS < weighted
    assert not deep_edits.is_deep(flat) and deep_edits.is_deep(in_blocks)
    # a plain network with one small block: its plain rows count once
    one_block = flat.with_layers((in_blocks.layers[0], *flat.layers[: rows - 3]))
    assert one_block.size == rows and not deep_edits.is_deep(one_block)
    # ... so a Delete in it is worked out on the thread, as in a far longer plain one
    document = ProjectDocument(in_blocks)
    try:
        assert document.remove_layers([LayerPath.top(3).child(0, 0)])
        assert document._edits.pending and document.spec is in_blocks
        qtbot.waitUntil(lambda: not document._edits.busy, timeout=10_000)
        assert document.spec.size == rows - 1
    finally:
        document.stop_editing()


def test_what_the_views_read_of_an_edit_is_worked_out_on_its_thread(deep: NetworkSpec) -> None:
    old = deep.with_layers(deep.layers)  # (nothing worked out of it yet)
    # what the thread runs for a Delete of the first row
    outcome = deep_edits.work_out(old, analyze(old), lambda items, maker: items[1:], None)
    assert outcome.spec is not None and outcome.analysis is not None
    for cached in ("_size", "_top_names"):
        assert cached in outcome.spec.__dict__
    for cached in ("diagnostics", "every_layer"):
        assert cached in outcome.analysis.__dict__
