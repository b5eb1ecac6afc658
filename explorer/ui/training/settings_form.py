"""The Training dock's Settings tab: the dataset picker and the hyperparameter form.

One editor per `TRAINING_PARAMS` entry (the dataset has its picker instead); every change
is an undoable edit of the document's `spec.training`, merged while the user keeps editing
one value. Settings that only one learning-rate schedule reads are greyed out under the
others. A value the training parameters refuse is not applied: `refused(message)` says why.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from explorer.core.spec import TRAINING_PARAMS, SpecError
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.param_editors import ParamEditor, make_editor
from explorer.ui.training.augment_preview import AugmentPreview
from explorer.ui.training.datasets import DatasetPicker

# Settings that only one schedule reads: greyed out under the others.
_STEP_SCHEDULE_KEYS = ("step_size", "gamma")


# Labels the key itself spells badly (abbreviations).
_LABELS = {
    "ema_decay": "Weight EMA decay",
    "tta_flip": "Flip test images (TTA)",
    "ensemble": "Ensemble of N",
}


def _form_order() -> list[str]:
    """The settings in the form (the dataset has its picker): as declared, except that the
    ensemble size follows the seed its members' seeds count on from."""
    keys = [key for key in TRAINING_PARAMS if key not in ("dataset", "ensemble")]
    keys.insert(keys.index("seed") + 1, "ensemble")
    return keys


class TrainingSettingsForm(QScrollArea):
    """The dataset and hyperparameters of the document's network, scrolling as one page."""

    refused = Signal(str)  # an edited value the training parameters do not accept: why

    def __init__(
        self,
        document: ProjectDocument,
        data_dir: Path | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.dataset_picker = DatasetPicker(data_dir)
        self.dataset_picker.dataset_chosen.connect(self._on_dataset_picker_dataset_chosen)
        self.augment_preview = AugmentPreview(data_dir)

        self.device_label = QLabel("detected when training starts")
        self.device_label.setWordWrap(True)
        self._form = form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, ParamEditor] = {}
        for key in _form_order():
            param = TRAINING_PARAMS[key]
            editor = make_editor(param)
            editor.value_edited.connect(self._on_editor_value_edited)
            editor.editing_finished.connect(document.end_merge)
            self.editors[key] = editor
            form.addRow(_LABELS.get(key) or key.replace("_", " ").capitalize(), editor)
            if key == "device":
                form.addRow("Detected", self.device_label)
        settings = QGroupBox("Hyperparameters")
        settings.setLayout(form)
        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(self.dataset_picker)
        page_layout.addWidget(self.augment_preview)
        page_layout.addWidget(settings)
        page_layout.addStretch(1)
        self.setWidgetResizable(True)
        self.setWidget(page)
        self.setFrameShape(QScrollArea.Shape.NoFrame)

        document.spec_changed.connect(self._on_document_spec_changed)
        self._on_document_spec_changed()

    def show_device(self, text: str) -> None:
        """What the controller detected when training started (device, threads)."""
        self.device_label.setText(text)

    def shutdown(self) -> None:
        """Stop a download in progress and wait for its thread (safe to repeat)."""
        self.dataset_picker.shutdown()
        self.augment_preview.shutdown()

    def _set_training(self, **values: object) -> bool:
        spec = self.document.spec
        try:
            training = spec.training.with_values(**values)
        except SpecError as error:
            self.refused.emit(error.message)
            return False
        key = ",".join(sorted(values))
        return self.document.edit(
            replace(spec, training=training), f"Change {key}", merge_key=("training", key)
        )

    @Slot(str)
    def _on_dataset_picker_dataset_chosen(self, name: str) -> None:
        if not self._set_training(dataset=name):
            self.dataset_picker.show_dataset(self.document.spec.training.dataset)

    @Slot(object)
    def _on_editor_value_edited(self, value: object) -> None:
        editor = self.sender()
        for key, candidate in self.editors.items():
            if candidate is editor:
                param = TRAINING_PARAMS[key]
                self._set_training(**{key: param.default if value is None else value})
                return

    @Slot()
    def _on_document_spec_changed(self) -> None:
        training = self.document.spec.training
        for key, editor in self.editors.items():
            editor.set_value(getattr(training, key))
        stepped = training.schedule == "step"
        for key in _STEP_SCHEDULE_KEYS:
            editor = self.editors[key]
            editor.setEnabled(stepped)
            label = self._form.labelForField(editor)
            if label is not None:
                label.setEnabled(stepped)
            note = "" if stepped else " Used only by the step schedule."
            editor.setToolTip(TRAINING_PARAMS[key].help + note)
        self.dataset_picker.show_dataset(training.dataset)
        self.augment_preview.show_training(training)
