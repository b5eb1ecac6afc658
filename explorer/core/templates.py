"""Built-in template projects, stored as project files in resources/templates/."""

from __future__ import annotations

from pathlib import Path

from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec

RESOURCES_DIR = Path(__file__).resolve().parents[2] / "resources"
TEMPLATES_DIR = RESOURCES_DIR / "templates"
DEFAULT_TEMPLATE = "keras-mnist"


def template_names() -> list[str]:
    """Template names in a stable order: the default first, then alphabetical."""
    names = sorted(path.stem for path in TEMPLATES_DIR.glob("*.json"))
    if DEFAULT_TEMPLATE in names:
        names.remove(DEFAULT_TEMPLATE)
        names.insert(0, DEFAULT_TEMPLATE)
    return names


def load_template(name: str) -> NetworkSpec:
    """The named template; ProjectError lists the valid names when it does not exist."""
    path = TEMPLATES_DIR / f"{name}.json"
    if not path.is_file():
        raise ProjectError(f"unknown template {name!r}; templates: {', '.join(template_names())}")
    return load_project(path)
