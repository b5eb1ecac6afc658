"""Data that cannot fit is refused with its numbers before anything is allocated: the shapes
set at 10000², images resized past memory, a gzip bomb, a header claiming absurd sizes.
The hostile cases run in a subprocess under `ulimit -v`, where an allocation attempt would
fail with a MemoryError traceback instead of the message."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from explorer.core.data import DatasetError, load_dataset, make_shapes
from explorer.core.data.formats import IDX_IMAGES_MAGIC, read_idx
from explorer.core.data.synthetic_shapes import shapes_peak_bytes
from tests.core.test_data_folder import make_folder
from tests.core.test_data_formats import idx_bytes, write_idx_set

ADDRESS_SPACE_KB = 3_000_000  # enough for Python, numpy and torch; far from a TiB
REPO = Path(__file__).resolve().parents[2]


def _run_capped(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "capped.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        ["bash", "-c", f"ulimit -v {ADDRESS_SPACE_KB} && exec {sys.executable} {script}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1",
            "KERAS_HOME": str(tmp_path),
        },
    )


def test_shapes_at_10000_squared_are_refused_with_the_numbers(tmp_path: Path) -> None:
    result = _run_capped(
        """
        from explorer.core.data import DatasetError, load_dataset
        try:
            load_dataset("shapes", input_size=10000)
        except DatasetError as error:
            print("refused:", error)
        """,
        tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "refused: the shapes set at 10000×10000×1 (12,000 + 2,000 images)" in result.stdout
    assert "bytes" in result.stdout and "GB" in result.stdout and "available" in result.stdout


def test_the_shapes_estimate_covers_what_numpy_really_allocates() -> None:
    tracemalloc.start()
    try:
        make_shapes(600, 100, image_size=40, rgb=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = shapes_peak_bytes(600, 100, 40, 3)

    assert peak <= estimate  # never more than the check allowed for
    assert estimate <= 2 * peak  # and not so cautious that it refuses what fits


def test_resizing_past_memory_is_refused_before_allocating(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist", train=30, test=10)

    with pytest.raises(DatasetError, match=r"30 images at 1×400000×400000 would need"):
        load_dataset("mnist", data_dir=tmp_path, download=False, input_size=400_000)


def _bomb(path: Path, inflated_gib: int) -> None:
    """An IDX image file whose header says 60,000×28×28 (47 MB) but whose gzip stream
    inflates to `inflated_gib` GiB of zeros, in a file of a few MB (64 MiB members)."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9)
    header = gzip.compress(np.array([IDX_IMAGES_MAGIC, 60_000, 28, 28], ">u4").tobytes())
    with path.open("wb") as out:
        out.write(header)
        for _ in range(inflated_gib * 16):
            out.write(member)


def test_a_gzip_bomb_in_the_mnist_folder_is_refused_after_what_its_header_states(
    tmp_path: Path,
) -> None:
    write_idx_set(tmp_path / "mnist", train=30, test=10)
    bomb = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    _bomb(bomb, inflated_gib=4)
    assert bomb.stat().st_size < 8 << 20

    result = _run_capped(
        f"""
        from explorer.core.data import DatasetError, load_dataset
        try:
            load_dataset("mnist", data_dir={str(tmp_path)!r}, download=False)
        except DatasetError as error:
            print("refused:", error)
        """,
        tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"refused: {bomb} is longer than its header declares" in result.stdout
    assert "more than 47,040,016 bytes for shape (60000, 28, 28)" in result.stdout


def test_a_header_claiming_absurd_sizes_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = np.array([IDX_IMAGES_MAGIC, 2**31, 2**16, 2**16], ">u4").tobytes()
    path.write_bytes(gzip.compress(header + bytes(1000)))

    result = _run_capped(
        f"""
        from pathlib import Path
        from explorer.core.data import DatasetError
        from explorer.core.data.formats import IDX_IMAGES_MAGIC, read_idx
        try:
            read_idx(Path({str(path)!r}), IDX_IMAGES_MAGIC)
        except DatasetError as error:
            print("refused:", error)
        """,
        tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert f"refused: {path} declares 2147483648 × 65536 × 65536 values" in result.stdout
    assert "(9,223,372,036,854,775,808 bytes)" in result.stdout  # 2**63: no int64 wrap


def test_a_raw_idx_file_longer_than_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((2, 4, 4), np.uint8)) + b"extra")

    with pytest.raises(DatasetError, match="longer than its header declares: 53 bytes"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_a_keras_npz_declaring_absurd_arrays_is_refused_before_reading(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        y_train=np.arange(4) % 10,
        x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        y_test=np.arange(2) % 10,
    )
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (2**40, 28, 28)}
    )
    with zipfile.ZipFile(path, "a") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["x_train.npy"] = header.getvalue() + bytes(64)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    with pytest.raises(
        DatasetError, match="declares arrays x_train 1099511627776×28×28, y_train 4"
    ):
        load_dataset(f"folder:{tmp_path}")


def test_an_image_folder_at_a_huge_input_size_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    make_folder(tmp_path, per_class=2)

    with pytest.raises(DatasetError, match=r"images at 1×400000×400000 would need"):
        load_dataset(f"folder:{tmp_path}", input_size=400_000)
