"""Edits of a deep network stay cheap on the GUI thread: stack rows are painted again only
when what they show changed (a kept picture otherwise, the same pixels)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage, QPainter, QPixmapCache
from PySide6.QtWidgets import QStyleOptionViewItem

from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.delegate import LayerRowDelegate, row_key
from explorer.ui.editor.stack import LayerStackPanel


def _network(layers: int) -> NetworkSpec:
    convs = [
        LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"})
        for _ in range(layers - 2)
    ]
    return NetworkSpec(
        input=InputSpec(1, 6, 6),
        layers=(*convs, LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10})),
    )


def _row_image(panel: LayerStackPanel, row: int) -> QImage:
    """The pixels of `row` as the view shows them."""
    view = panel.view
    rect = view.visualRect(view.model().index(row, 0))
    return view.viewport().grab(rect).toImage()


def _painted_directly(panel: LayerStackPanel, row: int) -> QImage:
    """`row` painted by the delegate's own drawing, with no picture kept."""
    view = panel.view
    index = view.model().index(row, 0)
    rect = view.visualRect(index)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = QRect(0, 0, rect.width(), rect.height())
    option.index = index
    image = QImage(rect.width(), rect.height(), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(view.viewport().palette().base().color())
    painter = QPainter(image)
    delegate = view.itemDelegate()
    assert isinstance(delegate, LayerRowDelegate)
    delegate.paint_row(painter, option, index)
    painter.end()
    return image


def test_a_kept_row_picture_shows_the_row_and_an_edit_paints_its_row_again(qtbot: Any) -> None:
    document = ProjectDocument(_network(8))
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    panel.resize(420, 600)
    panel.show()
    qtbot.waitExposed(panel)
    QPixmapCache.clear()
    panel.view.viewport().repaint()  # every row painted and kept
    before = _row_image(panel, 2)
    assert before == _painted_directly(panel, 2).convertToFormat(before.format())
    panel.view.viewport().repaint()  # from the kept pictures: the same pixels
    assert _row_image(panel, 2) == before

    document.replace_layer(LayerPath.top(2), document.spec.layers[2].with_values(filters=7))
    panel.view.clearSelection()  # the edit selected the row: compare it unselected
    panel.view.viewport().repaint()
    after = _row_image(panel, 2)
    assert after != before  # "7 filters", a new shape and count
    assert after == _painted_directly(panel, 2).convertToFormat(after.format())


def test_the_row_key_names_what_the_row_shows(qtbot: Any) -> None:
    document = ProjectDocument(_network(5))
    panel = LayerStackPanel(document)
    qtbot.addWidget(panel)
    view = panel.view
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = QRect(0, 0, 300, 40)
    first, second = view.model().index(1, 0), view.model().index(2, 0)
    # rows 1 and 2 differ in name only (conv2d_2, conv2d_3) and stripe
    assert row_key(option, first, 1.0) != row_key(option, second, 1.0)
    assert row_key(option, first, 1.0) == row_key(option, first, 1.0)
    assert row_key(option, first, 1.0) != row_key(option, first, 2.0)
    key = row_key(option, first, 1.0)
    document.replace_layer(LayerPath.top(1), document.spec.layers[1].with_values(filters=3))
    assert row_key(option, view.model().index(1, 0), 1.0) != key
