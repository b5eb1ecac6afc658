"""The activation gallery: every tile the same size, all of them inside the panel."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from explorer.core.activations import ACTIVATIONS
from explorer.ui.inspect.gallery import ActivationGallery
from explorer.ui.shell.pyqtgraph_setup import configure_pyqtgraph


def _image() -> torch.Tensor:
    torch.manual_seed(0)
    image = torch.zeros(1, 28, 28)
    image[0, 6:22, 10:18] = 1.0
    return image + 0.1 * torch.rand(1, 28, 28)


@pytest.mark.parametrize(("width", "columns"), [(420, 3), (640, 4), (1000, 5)])
def test_tiles_are_one_size_and_all_inside_the_panel(qtbot: Any, width: int, columns: int) -> None:
    configure_pyqtgraph()
    gallery = ActivationGallery()
    qtbot.addWidget(gallery)
    gallery.resize(width, 520)
    gallery.show()
    qtbot.waitExposed(gallery)
    gallery.set_image(_image())
    gallery.layout().activate()
    assert list(gallery.tiles) == list(ACTIVATIONS)
    assert gallery.columns == columns
    view_width = gallery.view.width()
    boxes, titles = set(), set()
    for tile in gallery.tiles.values():
        box = tile.box.sceneBoundingRect()
        boxes.add((round(box.width()), round(box.height())))
        titles.add(round(tile.title.sceneBoundingRect().height()))
        # Nothing cut off at the right (the fifth column was, at 420 px), titles fit.
        assert tile.sceneBoundingRect().right() <= view_width
        assert tile.title_size()[0] <= gallery.side
    assert boxes == {(gallery.side, gallery.side)}
    assert len(titles) == 1
    rows = -(-len(ACTIVATIONS) // columns)
    tops = sorted({round(tile.sceneBoundingRect().top()) for tile in gallery.tiles.values()})
    assert len(tops) == rows
    # Rows that do not fit scroll instead of shrinking.
    assert gallery.view.height() >= tops[-1] + gallery.side
