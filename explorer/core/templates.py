"""Built-in template projects: project files shipped as package data in explorer/resources/.

They are read through `importlib.resources`, so the same code finds them in a source
checkout, an editable install and an installed wheel (where no source tree exists).
"""

from __future__ import annotations

from importlib.resources import as_file, files
from importlib.resources.abc import Traversable

from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec

RESOURCES: Traversable = files("explorer") / "resources"
TEMPLATES_DIR: Traversable = RESOURCES / "templates"
DEFAULT_TEMPLATE = "keras-mnist"
_SUFFIX = ".json"


def template_names() -> list[str]:
    """Template names in a stable order: the default first, then alphabetical."""
    names = sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in TEMPLATES_DIR.iterdir()
        if entry.name.endswith(_SUFFIX) and entry.is_file()
    )
    if DEFAULT_TEMPLATE in names:
        names.remove(DEFAULT_TEMPLATE)
        names.insert(0, DEFAULT_TEMPLATE)
    return names


def load_template(name: str) -> NetworkSpec:
    """The named template; ProjectError lists the valid names when it does not exist."""
    resource = TEMPLATES_DIR / f"{name}{_SUFFIX}"
    if "/" in name or "\\" in name or not resource.is_file():
        raise ProjectError(f"unknown template {name!r}; templates: {', '.join(template_names())}")
    # as_file: a real path even when the package is imported from a zip archive.
    with as_file(resource) as path:
        return load_project(path)
