"""The attribution methods by name, torch-free: the command line's choices and the window's
picker read them without importing torch or Captum (see `explorer.core.attribution`)."""

from __future__ import annotations

#: Method names, as the command line spells them, and how the window shows them.
METHOD_LABELS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "integrated-gradients": "Integrated gradients",
    "occlusion": "Occlusion",
}
METHODS: tuple[str, ...] = tuple(METHOD_LABELS)
