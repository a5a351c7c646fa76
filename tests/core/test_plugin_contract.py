"""The plugin contract, round two: installing a plugin never breaks a working setup.

Fake distributions are written into a temporary site folder (a ``.dist-info`` with
``METADATA`` and ``entry_points.txt`` beside the plugin module), as pip would install them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from tvae_core import (
    ConfigError,
    PluginError,
    PluginManager,
    TrainingError,
    build_config,
    hookimpl,
    save_checkpoint,
)
from tvae_core.cli import main
from tvae_core.testing import check_component, conformance_problems, run_tiny, tiny_trainer


def install(
    site: Path,
    dist: str,
    *,
    modules: Mapping[str, str],
    plugins: Mapping[str, str] = {},
    commands: Mapping[str, str] = {},
    requires: tuple[str, ...] = ("tvae-core>=0.1",),
    version: str = "1.0",
) -> Path:
    """Write distribution ``dist`` into ``site``: its modules and its metadata."""
    for name, code in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"]
    lines += [f"Requires-Dist: {r}\n" for r in requires]
    (info / "METADATA").write_text("".join(lines))
    groups = {"tvae.plugins": plugins, "tvae.commands": commands}
    text = "".join(
        f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
        for g, eps in groups.items()
        if eps
    )
    (info / "entry_points.txt").write_text(text)
    files = [f"{n}.py" for n in modules] + [
        f"{info.name}/METADATA",
        f"{info.name}/entry_points.txt",
    ]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    importlib.invalidate_caches()
    return info


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("TVAE_NO_PLUGIN_COMMANDS", raising=False)
    return folder


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


HIJACK = """
    import torch  # at module level, what tvae list must never pay for
    from tvae_core import hookimpl

    @hookimpl
    def tvae_register_losses(register):
        register("kl", "tvae_core.testing:TinyReconstruction", description="not a KL at all")

    def add_list(app):
        @app.command("list")
        def hijacked() -> None:
            print("HIJACKED list")
"""


# -- names: a term apart from its component ----------------------------------------------
def test_one_component_serves_twice_under_two_names() -> None:
    config = {
        "losses": [
            {"name": "tiny_reconstruction"},
            {"name": "tiny_kl", "weight": 0.1},
            {"name": "kl_small", "component": "tiny_kl", "weight": 0.01},
        ]
    }
    summary = run_tiny(config, overrides=["losses.kl_small.weight=0.02"])
    assert {"train/tiny_kl", "train/kl_small", "val/kl_small"} <= set(summary.final)
    assert summary.final["train/kl_small"] == pytest.approx(summary.final["train/tiny_kl"])


def test_a_qualified_component_keeps_the_terms_name() -> None:
    trainer = tiny_trainer(
        {"losses": [{"name": "tiny:tiny_reconstruction"}]},
        overrides=["losses.tiny_reconstruction.weight=0.5"],
    ).setup()
    assert trainer.losses.names() == ["tiny_reconstruction"]
    assert trainer.losses.weight("tiny_reconstruction") == 0.5


def test_an_entry_with_a_component_names_itself_plainly() -> None:
    with pytest.raises(ConfigError, match="names itself without a plugin"):
        build_config({"losses": [{"name": "a:b", "component": "kl"}]}, merge_default=True)
    with pytest.raises(PluginError, match=r"losses\[0\]\.component: no loss named 'tiny_kll'"):
        tiny_trainer({"losses": [{"name": "kl2", "component": "tiny_kll"}]}).setup()


# -- log keys: never overwritten -----------------------------------------------------------
def test_log_key_collisions_are_refused_before_training() -> None:
    with pytest.raises(ConfigError, match=r"losses\[1\]\.name: 'loss' is taken by the run's own"):
        tiny_trainer(
            {"losses": [{"name": "tiny_reconstruction"}, {"name": "loss", "component": "tiny_kl"}]}
        ).setup()
    with pytest.raises(ConfigError, match=r"metrics\[0\]\.name: 'tiny_reconstruction' would log"):
        tiny_trainer(
            {"metrics": [{"name": "tiny_reconstruction", "component": "tiny_coverage"}]}
        ).setup()


class ShadowingMetric:
    """Returns a key equal to a loss term's name."""

    def __call__(self, outputs: Any, batch: Any) -> dict[str, float]:
        return {"tiny_reconstruction": 0.0}


class ShadowPlugin:
    __name__ = "shadow_plugin"

    @hookimpl
    def tvae_register_metrics(self, register: Any) -> None:
        register("shadow", ShadowingMetric)


def test_a_metric_key_equal_to_a_loss_term_fails_the_validation_naming_both() -> None:
    summary_error = None
    with pytest.raises(TrainingError) as info:
        run_tiny({"epochs": 1, "metrics": ["shadow"]}, plugins=[ShadowPlugin()])
    summary_error = str(info.value)
    assert "metric 'shadow'" in summary_error and "loss term 'tiny_reconstruction'" in summary_error


class StringRequires:
    requires = "outputs.z_mean"  # read a character at a time before

    def __call__(self, outputs: Any, batch: Any) -> torch.Tensor:
        return outputs["z_mean"].pow(2).mean()


def test_requires_must_be_a_set_of_keys() -> None:
    _, problems = conformance_problems("loss", StringRequires)
    assert [p.code for p in problems] == ["requires-invalid"]
    assert "requires is a str, not a set of keys" in problems[0].message

    class BadScope(StringRequires):
        requires = frozenset({"output.z_mean"})

    with pytest.raises(AssertionError, match=r"'outputs\.NAME', 'batch\.NAME' or 'NAME'"):
        check_component("loss", BadScope)


# -- named parameter groups -----------------------------------------------------------------
class ScaledVAE(torch.nn.Module):
    """The tiny VAE with a learnable output scale in a group of its own."""

    def __init__(self, input_dim: int = 27) -> None:
        super().__init__()
        from tvae_core.testing import TinyVAE

        self.vae = TinyVAE(input_dim)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"scale": [self.scale]}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.vae(batch)
        return {**out, "logits": out["logits"] * self.scale}


class ScaledPlugin:
    __name__ = "scaled_plugin"

    @hookimpl
    def tvae_register_models(self, register: Any) -> None:
        register("scaled_vae", ScaledVAE)


def test_the_optimizer_gets_named_groups_with_their_own_settings() -> None:
    config = {"model": {"name": "scaled_vae"}, "optimizer": {"name": "adam", "lr": 0.01}}
    trainer = tiny_trainer(
        config, [ScaledPlugin()], overrides=["optimizer.groups.scale.lr=0.1"]
    ).setup()
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert groups["default"]["lr"] == 0.01 and groups["scale"]["lr"] == 0.1
    assert groups["scale"]["params"] == [trainer.model.scale]
    summary = trainer.fit()
    assert summary.final["lr"] == 0.01 and summary.final["lr/scale"] == 0.1
    with pytest.raises(
        ConfigError, match=r"optimizer\.groups\.scal: the model has no parameter group"
    ):
        tiny_trainer(config, [ScaledPlugin()], overrides=["optimizer.groups.scal.lr=0.1"]).setup()


# -- presets ------------------------------------------------------------------------------
class PresetPlugin:
    __name__ = "preset_plugin"

    @hookimpl
    def tvae_register_presets(self, register: Any) -> None:
        register(
            "tiny-long",
            {
                "epochs": 3,
                "data": {"name": "tiny_ternary", "n_trits": 2, "batch_size": 3},
                "model": {"name": "tiny_vae", "latent_dim": 2},
                "optimizer": {"name": "adam"},
                "losses": ["tiny_reconstruction"],
                "metrics": ["tiny_coverage"],
                "callbacks": [],
                "trainer": {"device": "cpu", "progress": False},
                "plugins": {"required": []},
            },
            description="Three epochs of the 9 operations of n = 2",
        )


def test_presets_are_listed_printed_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = tmp_path / "preset_file_plugin.py"
    plugin.write_text(
        "from tvae_core import hookimpl\n"
        "from tvae_core.testing import tiny_plugin as _tiny\n"
        "tvae_register_datasets = _tiny.tvae_register_datasets\n"
        "tvae_register_models = _tiny.tvae_register_models\n"
        "tvae_register_losses = _tiny.tvae_register_losses\n"
        "tvae_register_metrics = _tiny.tvae_register_metrics\n"
        "from tests.core.test_plugin_contract import PresetPlugin\n"
        "tvae_register_presets = PresetPlugin().tvae_register_presets\n"
    )
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.chdir(tmp_path)
    p = ["--plugin", str(plugin)]
    code, out, _ = cli(capsys, "list", "preset", *p)
    assert code == 0 and "tiny-long" in out and "default" in out
    code, out, _ = cli(capsys, "config", "tiny-long", *p)
    assert code == 0 and "n_trits: 2" in out
    code, out, err = cli(capsys, "run", "tiny-long", *p, "--out", "out", "--json")
    assert code == 0, err
    assert json.loads(out)["epochs"] == 3
    code, _, err = cli(capsys, "run", "tiny-lon", *p)
    assert code == 2 and "no such config file or preset; did you mean 'tiny-long'?" in err


def test_the_default_run_is_the_builtin_preset() -> None:
    pm = PluginManager([], autoload=False)
    preset = pm.registry.preset("default")
    assert preset is not None and preset.plugin == "builtins"
    from tvae_core import default_config

    assert build_config(preset.data()) == default_config()


# -- installing plugins beside working ones ------------------------------------------------
def test_a_plugin_registering_kl_changes_nothing_the_default_run_means(site: Path) -> None:
    modules = {
        "tvae_kl_squatter": HIJACK.replace(
            "import torch  # at module level, what tvae list must never pay for", "import os"
        )
    }
    time.sleep(0.01)  # installed after tvae-losses, as a user would
    install(site, "tvae-kl-squatter", modules=modules, plugins={"squatter": "tvae_kl_squatter"})
    from tvae_core import default_config
    from tvae_core._engine.build import plan_run

    pm = PluginManager([])
    planned = {p.where: p for p in plan_run(default_config(), pm)}
    kl = planned["losses[1]"]
    assert (kl.component.plugin, kl.term) == ("losses", "kl")
    assert "using 'losses:kl' (its distribution is in plugins.required)" in kl.notes[0]
    notes = {i.name: i.notes for i in pm.plugins()}
    assert any("'kl' still means this one" in n for n in notes["losses"])
    assert any("write 'squatter:kl' for this one" in n for n in notes["squatter"])
    # Without plugins.required, the one installed first still wins.
    bare = build_config({"plugins": {"required": []}}, merge_default=True)
    assert {p.where: p for p in plan_run(bare, pm)}["losses[1]"].component.plugin == "losses"


def test_a_plugin_needing_a_newer_core_is_refused_before_import(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's bar: a plugin that registers ``kl``, adds a command ``list``, imports
    torch at module level and requires tvae-core>=99 changes nothing and is named."""
    pytest.importorskip("tvae_ternary")
    pytest.importorskip("tvae_losses")
    _, listed_before, _ = cli(capsys, "list", "--json")
    marker = tmp_path / "imported"
    code = f"open({str(marker)!r}, 'w').close()\n" + textwrap.dedent(HIJACK)
    install(
        site,
        "tvae-hijack",
        modules={"tvae_hijack": code},
        plugins={"hijack": "tvae_hijack"},
        commands={"list": "tvae_hijack:add_list"},
        requires=("tvae-core>=99",),
    )
    _, out, _ = cli(capsys, "plugins", "--json")
    info = next(i for i in json.loads(out) if i["name"] == "hijack")
    assert info["status"] == "incompatible" and info["fix"] == "pip install 'tvae-core>=99'"
    assert "requires tvae-core>=99, but this is tvae-core" in info["error"]
    assert info["notes"] == [
        "command 'list' refused: its plugin is incompatible: requires tvae-core>=99, but this "
        f"is tvae-core {importlib.metadata.version('tvae-core')}"
    ]
    code_, listed_after, _ = cli(capsys, "list", "--json")
    assert code_ == 0 and listed_after == listed_before  # same rows, no HIJACKED
    small = ["--set", "epochs=1", "--set", "data.n_trits=3", "--set", "data.batch_size=9"]
    small += ["--set", "model.hidden_dims=[16]", "--set", "callbacks=[]"]
    code_, out, err = cli(capsys, "run", *small, "--out", str(tmp_path / "o"), "--json")
    assert code_ == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed" and "train/kl" in summary["final"]
    assert summary["final"]["beta"] == pytest.approx(1e-3)  # the real KL's weight
    assert not marker.exists()  # never imported: no torch, no command, no kl of its own


@pytest.fixture
def commands_site(site: Path) -> Path:
    install(
        site,
        "tvae-hello",
        modules={
            "tvae_hello_cmd": """
                from tvae_core import UsageError

                def add_hello(app):
                    @app.command("hello")
                    def hello(who: str = "world") -> None:
                        if who == "nobody":
                            raise UsageError("nobody to greet", hint="say --who NAME")
                        if who == "crash":
                            raise RuntimeError("boom")
                        print(f"hello {who}")

                def add_plot(app):
                    @app.command("plot")
                    def plot() -> None:
                        print("someone else's plot")
            """,
        },
        commands={"hello": "tvae_hello_cmd:add_hello", "plot": "tvae_hello_cmd:add_plot"},
    )
    return site


@pytest.mark.usefixtures("commands_site")
def test_plugin_commands_run_and_fail_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "hello", "--who", "you")[1] == "hello you\n"
    code, _, err = cli(capsys, "hello", "--who", "nobody")
    assert (code, err) == (2, "error: nobody to greet; say --who NAME\n")
    code, _, err = cli(capsys, "hello", "--who", "crash")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: command 'hello' of plugin 'tvae-hello' (tvae-hello 1.0) raised")
    assert "RuntimeError: boom" in err


@pytest.mark.usefixtures("commands_site")
def test_no_plugin_takes_a_commands_name_from_another(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tvae_ternary")
    code, out, _ = cli(capsys, "plot", "--help")
    assert code == 0 and "Draw a run's latent disk" in out  # tvae-ternary's, installed first
    _, out, _ = cli(capsys, "plugins", "--json")
    hello = next(i for i in json.loads(out) if i["name"] == "tvae-hello")
    assert hello["commands"] == ["hello"]
    assert hello["notes"] == [
        "command 'plot' refused: command 'plot' is already plugin 'ternary' (tvae-ternary "
        f"{importlib.metadata.version('tvae-ternary')})'s"
    ]
    code, _, err = cli(capsys, "hello", "--plugin", "no:tvae-hello")
    assert code == 2 and "No such command 'hello'" in err


def test_help_lists_plugin_commands_without_importing_them(commands_site: Path) -> None:
    probe = "import sys\nfrom tvae_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('tvae_hello_cmd' in sys.modules, 'torch' in sys.modules, file=sys.stderr)\n"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TVAE_")},
        "PYTHONPATH": str(commands_site),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert "hello" in done.stdout and "A command of tvae-hello" in done.stdout
    assert done.stderr.split() == ["False", "False"]


# -- identity -------------------------------------------------------------------------------
def test_a_plugin_has_one_name_and_version_however_it_is_loaded(site: Path) -> None:
    code = """
        from tvae_core import hookimpl

        @hookimpl
        def tvae_register_losses(register):
            register("lorentz_distortion", "tvae_core.testing:TinyKL", description="d")
    """
    install(
        site,
        "tvae-lorentz",
        modules={"tvae_lorentz_plugin": code},
        plugins={"lorentz": "tvae_lorentz_plugin"},
        version="0.3.1",
    )
    from tvae_core.testing import plugin_manager

    module = importlib.import_module("tvae_lorentz_plugin")
    for pm in (
        PluginManager([]),
        PluginManager(["tvae_lorentz_plugin"], autoload=False),
        plugin_manager(module),
    ):
        component = pm.registry.get("loss", "lorentz:lorentz_distortion")
        assert (component.plugin, component.distribution, component.version) == (
            "lorentz",
            "tvae-lorentz",
            "0.3.1",
        )


# -- the single-file plugin of the docs ---------------------------------------------------
def test_a_single_file_plugin_registers_lazily_and_adds_a_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.docs.blocks import blocks

    block = next(b for b in blocks("plugins/writing.md", "python") if "# my_plugin.py" in b.code)
    (tmp_path / "my_plugin.py").write_text(block.code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    code, out, err = cli(capsys, "list", "loss", "--plugin", "my_plugin.py")
    assert code == 0 and "zero" in out, err
    code, out, err = cli(capsys, "hello", "--plugin", "my_plugin.py")
    assert code == 0 and "hello from my_plugin" in out, err
    summary = run_tiny(
        {"losses": [{"name": "tiny_reconstruction"}, {"name": "zero"}]},
        plugins=[str(tmp_path / "my_plugin.py")],
    )
    assert summary.final["train/zero"] == 0.0


# -- small things authors met ---------------------------------------------------------------
def test_show_writes_literal_and_tuple_types(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "show", "optimizer", "adam", "--json")
    types = {s["name"]: s["type"] for s in json.loads(out)["settings"]}
    assert types["betas"] == "tuple[float, float]" and types["fused"] == "bool | None"


def test_new_plugin_refuses_the_cores_distribution_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "new-plugin", "core", "--dir", str(tmp_path))
    assert code == 2 and "would make a distribution named tvae-core" in err
    assert not list(tmp_path.iterdir())


def test_a_resume_names_what_changed_since_the_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    tiny_trainer({"epochs": 1}, run_dir=run).fit()
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["plugins"]["tiny"] = "0.0.9"
    save_checkpoint(ckpt, run / "checkpoints" / "last.pt")  # as a run writes it (its hash too)
    with caplog.at_level("WARNING", logger="tvae"):
        tiny_trainer({"epochs": 2}, run_dir=run, resume_from=run).fit()
    assert "plugin 'tiny' was 0.0.9 and is now None" in caplog.text


def test_a_plugin_hook_that_raises_in_a_registration_is_still_isolated() -> None:
    class Broken:
        __name__ = "broken_presets"

        @hookimpl
        def tvae_register_presets(self, register: Any) -> None:
            register("bad", 42)

    pm = PluginManager([], autoload=False)
    info = pm.add_plugin("broken_presets", lambda: Broken())
    pm.plugins()
    assert info.status == "failed" and "a preset is 'package:file.yaml'" in (info.error or "")
    with pytest.raises(PluginError):
        from tvae_core.testing import plugin_manager

        plugin_manager(Broken())
