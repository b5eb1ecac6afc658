"""The augmentation preview under the dataset picker: drawn off the GUI thread, refreshed
when the augmentation settings change, and only while visible."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtGui import QImage

from explorer.core.spec import TrainingSpec
from explorer.core.templates import load_template
from explorer.ui.common.document import ProjectDocument
from explorer.ui.training.augment_preview import AugmentPreview, augmentation_values
from explorer.ui.training.settings_form import TrainingSettingsForm

ROTATE = {"augment_rotation": 30.0, "augment_crop_padding": 3}


@pytest.fixture
def form(qtbot: Any, tmp_path: Path) -> Iterator[TrainingSettingsForm]:
    spec = load_template("keras-mnist")
    spec = replace(spec, training=spec.training.with_values(dataset="shapes"))
    widget = TrainingSettingsForm(ProjectDocument(spec), tmp_path)
    qtbot.addWidget(widget)
    widget.resize(420, 760)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def _edit(form: TrainingSettingsForm, **values: object) -> None:
    document = form.document
    spec = document.spec
    document.edit(replace(spec, training=spec.training.with_values(**values)), "Change")


def _wait_shown(
    qtbot: Any, preview: AugmentPreview, training: TrainingSpec, draw: int = 0
) -> np.ndarray:
    """The picture once it shows `training`'s augmentation, drawn `draw` times, as gray."""
    settings = augmentation_values(training)

    def shown() -> bool:
        request = preview.shown
        return request is not None and (request.augmentation, request.draw) == (settings, draw)

    qtbot.waitUntil(shown, timeout=30000)
    image = preview.picture.pixmap().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1)
    return rows[:, : image.width()].copy()


def test_the_preview_shows_plain_images_then_augmented_draws_when_settings_change(
    qtbot: Any, form: TrainingSettingsForm
) -> None:
    preview = form.augment_preview
    plain = _wait_shown(qtbot, preview, form.document.spec.training)
    assert "off" in preview.caption.text()
    # Four rows of 28-pixel images, each drawn twice its size, with 2-pixel gaps.
    pixmap = preview.picture.pixmap()
    assert (pixmap.width(), pixmap.height()) == (2 * (4 * 28 + 3 * 2), 2 * (4 * 28 + 3 * 2))
    # Off: every column repeats the left one.
    tile = 2 * (28 + 2)
    assert np.array_equal(plain[:, : 2 * 28], plain[:, tile : tile + 2 * 28])

    _edit(form, **ROTATE)
    augmented = _wait_shown(qtbot, preview, form.document.spec.training)
    assert "rotate ±30°" in preview.caption.text()
    # The originals stay on the left; the draws beside them differ from them.
    assert np.array_equal(plain[:, : 2 * 28], augmented[:, : 2 * 28])
    assert not np.array_equal(augmented[:, : 2 * 28], augmented[:, tile : tile + 2 * 28])

    preview.new_draw.click()
    redrawn = _wait_shown(qtbot, preview, form.document.spec.training, draw=1)
    assert np.array_equal(redrawn[:, : 2 * 28], augmented[:, : 2 * 28])
    assert not np.array_equal(redrawn, augmented)


def test_a_missing_dataset_says_so_instead_of_a_picture(
    qtbot: Any, form: TrainingSettingsForm
) -> None:
    _edit(form, dataset="mnist")  # nothing under this test's empty data folder
    preview = form.augment_preview
    qtbot.waitUntil(lambda: preview.caption.text().startswith("No preview"), timeout=30000)
    assert preview.shown is None
    assert preview.picture.pixmap().isNull()


def test_a_hidden_preview_loads_nothing_until_shown(qtbot: Any, tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    spec = replace(spec, training=spec.training.with_values(dataset="shapes"))
    form = TrainingSettingsForm(ProjectDocument(spec), tmp_path)
    qtbot.addWidget(form)
    try:
        assert not form.augment_preview.runner.busy
        form.show()
        qtbot.waitUntil(lambda: form.augment_preview.shown is not None, timeout=30000)
    finally:
        form.shutdown()


def test_the_settings_form_with_its_preview_imports_without_torch() -> None:
    script = "import sys\nimport explorer.ui.training.settings_form\nprint('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "False"
