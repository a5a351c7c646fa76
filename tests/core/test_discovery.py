"""Entry-point discovery: the same answer as importlib.metadata, whatever changed since the last run."""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tvae_core._plugins.discovery import EntryPointRecord, discover

GROUP = "tvae.plugins"


def _install(site: Path, name: str, version: str, entry: str) -> Path:
    """A distribution ``name`` (folder ``name-version.dist-info``) with one tvae plugin."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{entry}\n")
    importlib.invalidate_caches()
    return info


def _ours(records: list[EntryPointRecord]) -> dict[str, tuple[str, str | None, str | None]]:
    return {
        r.name: (r.value, r.distribution, r.version) for r in records if r.name.startswith("dsc_")
    }


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_the_same_records_as_importlib_metadata(site: Path) -> None:
    _install(site, "tvae-dsc-one", "1.0", "dsc_one = dsc_one_module:plugin")
    expected: dict[str, tuple[str, str | None, str | None]] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist
        expected.setdefault(ep.name, (ep.value, dist and dist.name, dist and dist.version))
    records = discover(GROUP)
    assert {r.name: (r.value, r.distribution, r.version) for r in records} == expected


def test_installs_removals_upgrades_and_edits_are_seen(site: Path) -> None:
    one = _install(site, "tvae-dsc-one", "1.0", "dsc_one = dsc_one_module")
    assert _ours(discover(GROUP)) == {"dsc_one": ("dsc_one_module", "tvae-dsc-one", "1.0")}
    two = _install(site, "tvae-dsc-two", "0.3", "dsc_two = dsc_two_module:hooks")
    assert set(_ours(discover(GROUP))) == {"dsc_one", "dsc_two"}
    # An upgrade replaces the dist-info folder (its name carries the version).
    (two / "METADATA").write_text("Metadata-Version: 2.1\nName: tvae-dsc-two\nVersion: 0.4\n")
    two.rename(site / "tvae_dsc_two-0.4.dist-info")
    importlib.invalidate_caches()
    assert _ours(discover(GROUP))["dsc_two"][2] == "0.4"
    # An entry point edited in place (an editable project's file rewritten).
    points = one / "entry_points.txt"
    points.write_text(f"[{GROUP}]\ndsc_one = dsc_one_module:other\n")
    stamp = points.stat().st_mtime_ns + 10**9
    os.utime(points, ns=(stamp, stamp))
    assert _ours(discover(GROUP))["dsc_one"][0] == "dsc_one_module:other"
    for info in site.iterdir():
        for file in info.iterdir():
            file.unlink()
        info.rmdir()
    importlib.invalidate_caches()
    assert _ours(discover(GROUP)) == {}


def test_record_load_follows_the_entry_point_value_syntax() -> None:
    assert EntryPointRecord("a", "os.path", None, None).load() is os.path
    assert EntryPointRecord("b", "os:path.join", None, None).load() is os.path.join
    assert EntryPointRecord("c", "os : path [extra]", None, None).load() is os.path
    with pytest.raises(ImportError, match="cannot read value"):
        EntryPointRecord("d", "not a value!", None, None).load()
