"""Plugin loading: isolation of faulty plugins, blocking, --plugin by module and path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tvae_core import ComponentNotFound, PluginError, PluginManager, UsageError

GOOD = """
from tvae_core import hookimpl

@hookimpl
def tvae_register_losses(register):
    register("good_loss", "math:fabs", description="a lazy factory never imported by listing")
"""


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_builtins_are_registered_through_the_hooks() -> None:
    pm = PluginManager([], autoload=False)
    names = {(c.kind, c.name, c.plugin) for c in pm.registry.all()}
    assert ("optimizer", "adam", "builtins") in names
    assert ("scheduler", "warmup_cosine", "builtins") in names
    info = {i.name: i for i in pm.plugins()}["builtins"]
    assert info.status == "loaded"
    assert "tvae_register_optimizers" in info.hooks


def test_builtins_can_be_blocked() -> None:
    pm = PluginManager(["no:builtins"], autoload=False)
    assert pm.registry.all() == []
    assert {i.name: i.status for i in pm.plugins()}["builtins"] == "blocked"
    with pytest.raises(ComponentNotFound, match="no optimizer named 'adam'"):
        pm.registry.get("optimizer", "adam")


def test_plugin_by_path_and_by_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "mypath_plugin", GOOD)
    pm = PluginManager([str(path)], autoload=False)
    assert pm.registry.get("loss", "good_loss").plugin == "mypath_plugin"
    monkeypatch.syspath_prepend(str(tmp_path))
    write(tmp_path, "mymod_plugin", GOOD)
    pm = PluginManager(["mymod_plugin"], autoload=False)
    assert pm.registry.get("loss", "good_loss").plugin == "mymod_plugin"


def test_listing_does_not_import_lazy_factories(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lazy_plugin",
        """
        from tvae_core import hookimpl

        @hookimpl
        def tvae_register_losses(register):
            register("ghost", "module_that_does_not_exist:Thing", description="lazy")
    """,
    )
    pm = PluginManager([str(path)], autoload=False)
    component = pm.registry.get("loss", "ghost")
    assert component.description == "lazy"
    assert component.is_lazy
    with pytest.raises(
        PluginError, match="cannot be imported from 'module_that_does_not_exist:Thing'"
    ):
        component.load()


def test_plugin_that_raises_on_import_is_isolated(tmp_path: Path) -> None:
    bad = write(tmp_path, "broken_import", "raise RuntimeError('boom at import')\n")
    good = write(tmp_path, "fine_plugin", GOOD)
    pm = PluginManager([str(bad), str(good)], autoload=False)
    infos = {i.name: i for i in pm.plugins()}
    assert infos["broken_import"].status == "failed"
    assert "RuntimeError: boom at import" in (infos["broken_import"].error or "")
    assert infos["fine_plugin"].status == "loaded"
    assert pm.registry.get("loss", "good_loss")
    with pytest.raises(ComponentNotFound, match="broken_import"):
        pm.registry.get("loss", "missing_loss")


def test_unknown_hook_is_an_error_with_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "typo_plugin",
        """
        from tvae_core import hookimpl

        @hookimpl
        def tvae_register_loss(register):
            register("x", "math:fabs")
    """,
    )
    pm = PluginManager([str(path)], autoload=False)
    info = {i.name: i for i in pm.plugins()}["typo_plugin"]
    assert info.status == "failed"
    assert "unknown hook 'tvae_register_loss'" in (info.error or "")
    assert "tvae_register_losses" in (info.error or "")


def test_bad_hook_signature_is_rejected_by_pluggy(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sig_plugin",
        """
        from tvae_core import hookimpl

        @hookimpl
        def tvae_register_losses(register, extra):
            pass
    """,
    )
    pm = PluginManager([str(path)], autoload=False)
    info = {i.name: i for i in pm.plugins()}["sig_plugin"]
    assert info.status == "failed"
    assert "extra" in (info.error or "")


def test_hook_that_raises_and_its_partial_registrations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "half_plugin",
        """
        from tvae_core import hookimpl

        @hookimpl
        def tvae_register_losses(register):
            register("half_loss", "math:fabs")

        @hookimpl
        def tvae_register_callbacks(register):
            raise ValueError("cannot register callbacks today")
    """,
    )
    pm = PluginManager([str(path)], autoload=False)
    info = {i.name: i for i in pm.plugins()}["half_plugin"]
    assert info.status == "failed"
    assert "ValueError: cannot register callbacks today" in (info.error or "")
    with pytest.raises(ComponentNotFound) as exc:
        pm.registry.get("loss", "half_loss")
    assert "comes from plugin 'half_plugin'" in str(exc.value)
    assert "failed to load" in str(exc.value)


def test_registering_a_name_twice_fails_that_plugin(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "twice_plugin",
        """
        from tvae_core import hookimpl

        @hookimpl
        def tvae_register_losses(register):
            register("same", "math:fabs")
            register("same", "math:fabs")
    """,
    )
    pm = PluginManager([str(path)], autoload=False)
    info = {i.name: i for i in pm.plugins()}["twice_plugin"]
    assert info.status == "failed"
    assert "registered loss 'same' twice" in (info.error or "")


@pytest.mark.parametrize(
    ("factory", "message"),
    [("no_colon", "package.module:attribute"), ("42", "package.module:attribute")],
)
def test_bad_lazy_factory_strings(tmp_path: Path, factory: str, message: str) -> None:
    path = write(
        tmp_path,
        "lazy_bad",
        f"""
        from tvae_core import hookimpl

        @hookimpl
        def tvae_register_losses(register):
            register("l", {factory!r})
    """,
    )
    pm = PluginManager([str(path)], autoload=False)
    assert message in ({i.name: i for i in pm.plugins()}["lazy_bad"].error or "")


def test_same_name_in_two_plugins_means_the_first_ones(tmp_path: Path) -> None:
    """A second plugin never changes what an unqualified name meant; its own is qualified."""
    a = write(tmp_path, "plug_a", GOOD)
    b = write(tmp_path, "plug_b", GOOD)
    pm = PluginManager([str(a), str(b)], autoload=False)
    assert len([c for c in pm.registry.all("loss") if c.name == "good_loss"]) == 2
    assert pm.registry.get("loss", "good_loss").plugin == "plug_a"  # --plugin order
    assert pm.registry.get("loss", "plug_b:good_loss").plugin == "plug_b"
    notes = {i.name: i.notes for i in pm.plugins()}
    assert "'good_loss' still means this one" in notes["plug_a"][0]
    assert "write 'plug_b:good_loss' for this one" in notes["plug_b"][0]


def test_a_required_distribution_wins_a_clash() -> None:
    from tvae_core._plugins.registry import Component, Registry

    registry = Registry()
    for i, dist in enumerate(["tvae-early", "tvae-late"]):
        registry.add(
            Component(
                "loss", "kl", dist, dist, "1", "math:fabs", source="entry-point", load_index=i
            )
        )
    assert registry.get("loss", "kl").plugin == "tvae-early"
    assert registry.get("loss", "kl", prefer=frozenset({"tvae-late"})).plugin == "tvae-late"


def test_blocked_plugin_is_never_imported(tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    path = write(tmp_path, "spy_plugin", f"open({str(marker)!r}, 'w').write('x')\n")
    PluginManager([str(path), "no:spy_plugin"], autoload=False).plugins()
    assert not marker.exists()


def test_missing_plugin_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        PluginManager([str(tmp_path / "nope.py")], autoload=False).load()


def test_trace_prints_hook_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TVAE_TRACE_PLUGINS", "1")
    PluginManager([str(write(tmp_path, "traced", GOOD))], autoload=False).plugins()
    err = capsys.readouterr().err
    assert "call tvae_register_losses of plugin 'traced'" in err


def test_autoload_env_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = PluginManager([])
    assert [i.source for i in pm.plugins()] == ["builtin"]
