"""A checkpoint is checked before it is read: its archive's CRCs, and the hash the run
recorded in ``checkpoints/SHA256SUMS`` when it wrote the file (issue 12, item 4)."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, one_line, snapshot, toy_config, write_config
from tvae_core._errors import CheckpointError
from tvae_core._run import integrity
from tvae_core._run.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    return tmp_path / "out/r"


def _resume(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "epochs=4", *extra)
    return code, err


def _flip_weight_byte(path: Path) -> None:
    """Flip the first byte of a tensor record, leaving the archive's CRC as it was."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    at = info.header_offset + 30 + name_len + extra_len
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_run_records_each_checkpoints_hash(run: Path) -> None:
    sums = (run / "checkpoints/SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256((run / "checkpoints/last.pt").read_bytes()).hexdigest()
    assert sums == [f"{digest}  last.pt"]  # sha256sum's format, one line per file


def test_a_flipped_byte_in_a_weight_fails_the_crc_check(
    capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    _flip_weight_byte(run / "checkpoints/last.pt")
    before = snapshot(run)
    code, err = _resume(capsys)
    assert code == 2
    line = one_line(err)
    assert "last.pt: cannot load checkpoint: the archive is damaged (record" in line
    assert "fails its CRC check" in line
    assert snapshot(run) == before
    with pytest.raises(CheckpointError, match="fails its CRC check"):
        from tvae_core import model_from_checkpoint

        model_from_checkpoint(run)  # what tvae export and tvae evaluate read through


def test_a_replaced_file_fails_the_recorded_hash(
    capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    last = run / "checkpoints/last.pt"
    state = torch.load(last, weights_only=True)
    state["global_step"] += 1  # another valid archive, written by hand
    torch.save(state, last)
    before = snapshot(run)
    code, err = _resume(capsys)
    assert code == 2
    line = one_line(err)
    assert "last.pt: the file changed since the run wrote it: its sha256 is" in line
    assert "checkpoints/SHA256SUMS records" in line
    assert snapshot(run) == before


def test_a_file_the_record_does_not_list_is_read(
    capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    shutil.copy(run / "checkpoints/last.pt", run / "checkpoints/copy.pt")
    assert load_checkpoint(run / "checkpoints/copy.pt")["epoch"] == 2
    code, err = _resume(capsys)  # and extending the run keeps one line per file
    assert code == 0, err
    names = [
        line.split("  ")[1] for line in (run / "checkpoints/SHA256SUMS").read_text().splitlines()
    ]
    assert names == ["last.pt"]


def test_a_crash_on_either_side_of_the_rename_leaves_a_file_that_matches(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}")  # a run's folder: its checkpoints are recorded
    target = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint({"epoch": 1}, target)
    assert integrity.read_sums(target.parent)["last.pt"] == [integrity.sha256_file(target)]
    old = target.read_bytes()
    new_file = tmp_path / "checkpoints" / ".new.tmp"
    torch.save({"epoch": 2}, new_file)
    integrity.record_pending(target, new_file)  # a crash here: the old file is still accepted
    integrity.verify_recorded(target)
    new_file.replace(target)  # a crash here, before the record is tidied: the new one is
    integrity.verify_recorded(target)
    target.write_bytes(old)
    integrity.verify_recorded(target)
    target.write_bytes(b"x" + old[1:])
    with pytest.raises(CheckpointError, match="changed since the run wrote it"):
        integrity.verify_recorded(target)


def test_a_hand_written_loops_checkpoints_folder_gets_no_record(tmp_path: Path) -> None:
    save_checkpoint({"epoch": 1}, tmp_path / "checkpoints" / "last.pt")
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.pt"]


def test_a_zip_bomb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pt"
    buf = io.BytesIO()
    torch.save({"epoch": 0}, buf)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/9", b"\0" * (48 << 20))
    bomb.write_bytes(buf.getvalue())
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(CheckpointError, match="zip bomb"):
        load_checkpoint(bomb)
