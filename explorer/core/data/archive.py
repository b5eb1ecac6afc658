"""Unpacking a verified .tar.gz (CIFAR-10) into the cache without trusting its paths."""

from __future__ import annotations

import filecmp
import shutil
import tarfile
import uuid
from pathlib import Path, PurePosixPath

from explorer.core.data.errors import DatasetError
from explorer.core.data.repair import Damage, quarantine


def extract_folder(archive: Path, folder_name: str, dest: Path) -> Path:
    """Extract the regular files under `folder_name/` in `archive` to `dest/folder_name`.

    Extracts to a temporary folder beside it first, so an interrupted run leaves no
    half-filled folder. Into an existing folder only what it lacks is moved: its other files
    (the user's own among them) stay, and a file that differs from the archive's is renamed
    aside as `<name>.damaged-<time>` rather than overwritten. Members outside
    `folder_name/`, links and paths with '..' are ignored. Returns the folder.
    """
    final = dest / folder_name
    staging = dest / f".extracting-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        count = 0
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not member.isfile() or not parts or parts[0] != folder_name or ".." in parts:
                    continue
                target = staging.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                count += 1
        if count == 0:
            raise DatasetError(f"{archive} holds no files under {folder_name}/")
        if final.is_dir():
            _merge(staging, final)
        else:
            staging.rename(final)
    except (OSError, tarfile.TarError, EOFError) as error:
        raise DatasetError(f"cannot unpack {archive}: {error}") from error
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return final


def _merge(staging: Path, final: Path) -> None:
    for source in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = final / source.relative_to(staging)
        if target.is_file():
            if filecmp.cmp(source, target, shallow=False):
                continue
            quarantine(Damage(target, "it differs from the verified archive"))
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
