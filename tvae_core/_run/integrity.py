"""Is a checkpoint the file the run wrote? Its archive's CRCs, and the run's record of its hash.

A checkpoint is a zip archive (``torch.save``'s format) whose records each carry a CRC-32;
torch's reader does not check them, so a flipped byte in a weight loads as a wrong weight.
:func:`check_archive` reads every record and checks its CRC (and refuses an archive whose
records claim far more bytes than the file holds: a zip bomb), before torch reads anything.

Every checkpoint a run writes into its ``checkpoints/`` folder is also recorded there, in
``checkpoints/SHA256SUMS`` (``sha256sum``'s format: ``sha256sum -c SHA256SUMS`` checks the
folder by hand); :func:`verify_recorded` compares a file with its record when it is read.
The record is updated around the atomic rename so that a crash at any moment leaves a file
that matches it: before the rename it lists both the old and the new hash of the name,
after it only the new one. A file the record does not list (copied in, or of an older
tvae) is read without this check.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from tvae_core._errors import CheckpointError

SUMS = "SHA256SUMS"
#: Checkpoints are recorded only in a run's folder of this name.
RECORDED_IN = "checkpoints"
#: How many times the file's size a checkpoint's records may claim, uncompressed (torch
#: stores records uncompressed: their sizes add up to a little less than the file's).
MAX_EXPANSION = 4
_SLACK = 1 << 20


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(folder: Path) -> dict[str, list[str]]:
    """``{file name: [accepted sha256, ...]}`` from ``folder/SHA256SUMS`` (empty if none)."""
    try:
        text = (folder / SUMS).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    sums: dict[str, list[str]] = {}
    for line in text.splitlines()[:100_000]:
        digest, sep, name = line.partition("  ")
        name = name.removeprefix("*")
        if sep and len(digest) == 64 and name and "/" not in name:
            sums.setdefault(name, []).append(digest.lower())
    return sums


def _write_sums(folder: Path, sums: dict[str, list[str]]) -> None:
    from tvae_core._run.atomic import write_text_atomic

    lines = [f"{d}  {name}\n" for name in sorted(sums) for d in sums[name]]
    write_text_atomic(folder / SUMS, "".join(lines))


def records(target: Path) -> bool:
    """Whether a checkpoint written to ``target`` is recorded: it is in a run's
    ``checkpoints/`` (beside a ``run.json``), not a folder of a hand-written loop."""
    folder = target.parent
    return folder.name == RECORDED_IN and (folder.parent / "run.json").is_file()


def record_pending(target: Path, new_file: Path) -> str:
    """Before ``new_file`` is renamed to ``target``: accept its hash beside the old one."""
    digest = sha256_file(new_file)
    sums = {
        name: hashes
        for name, hashes in read_sums(target.parent).items()
        if name == target.name or (target.parent / name).exists()  # pruned files go
    }
    sums[target.name] = [*sums.get(target.name, [])[-1:], digest]
    _write_sums(target.parent, sums)
    return digest


def record_done(target: Path, digest: str) -> None:
    """After the rename: only the new hash is ``target``'s."""
    sums = read_sums(target.parent)
    sums[target.name] = [digest]
    _write_sums(target.parent, sums)


def verify_recorded(path: Path) -> None:
    """Refuse ``path`` if its folder's ``SHA256SUMS`` records another hash for it."""
    accepted = read_sums(path.parent).get(path.name)
    if not accepted:
        return
    digest = sha256_file(path)
    if digest not in accepted:
        raise CheckpointError(
            f"the file changed since the run wrote it: its sha256 is {digest[:16]}..., "
            f"{path.parent.name}/{SUMS} records {accepted[-1][:16]}...",
            source=str(path),
            hint="restore it from a copy, or resume from another checkpoint of the run",
        )


def check_archive(path: Path) -> None:
    """Check every record of a zip checkpoint against its CRC; refuse a zip bomb.

    A file that is not a zip archive is left to torch's reader (which refuses it, or reads
    the legacy format).
    """
    try:
        if not zipfile.is_zipfile(path):
            return
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            claimed = sum(i.file_size for i in infos)
            if claimed > MAX_EXPANSION * size + _SLACK:
                raise CheckpointError(
                    f"the archive's records claim {claimed} bytes from a file of {size} "
                    "(a zip bomb?); refused before reading them",
                    source=str(path),
                )
            bad = archive.testzip()
    except CheckpointError:
        raise
    except Exception as exc:  # a damaged archive fails in many ways (BadZipFile, zlib.error, ...)
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise CheckpointError(
            "cannot load checkpoint: the archive is damaged "
            f"({type(exc).__name__}{': ' + text if text else ''})",
            source=str(path),
        ) from None
    if bad is not None:
        # A damaged name may hold any byte: escaped, so the message stays one printable line.
        bad = ascii(bad)[1:-1][:200]
        raise CheckpointError(
            f"cannot load checkpoint: the archive is damaged (record {bad} fails its CRC check)",
            source=str(path),
            hint="restore it from a copy, or resume from another checkpoint of the run",
        )
