"""Tests of ``tvae plugins check`` (tvae_core._tools.plugin_check): each problem found, with its fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tvae_core import UsageError
from tvae_core._tools.plugin_check import CheckReport, check_plugin
from tvae_core._tools.scaffold import create_plugin

HEADER = "from tvae_core import hookimpl\n"


def _plugin(tmp_path: Path, body: str, name: str = "checked_plugin") -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER + textwrap.dedent(body))
    return str(path)


def _messages(report: CheckReport, severity: str) -> str:
    return "\n".join(
        f"{p.component}: {p.message} | {p.hint}" for p in report.problems if p.severity == severity
    )


def test_a_good_plugin_passes_with_every_check_listed(tmp_path: Path) -> None:
    spec = _plugin(
        tmp_path,
        """
        @hookimpl
        def tvae_register_losses(register):
            register("good_kl", "tvae_core.testing:TinyKL", description="KL")

        @hookimpl
        def tvae_register_optimizers(register):
            register("good_adam", "tvae_core._engine.optim:adam", description="Adam")
        """,
    )
    report = check_plugin(spec)
    assert report.ok and not report.problems, report.render()
    text = report.render()
    assert "imports in" in text and "without heavy modules" in text
    assert "loss 'good_kl': imports, settings schema, loss interface" in text
    assert "optimizer 'good_adam'" in text
    assert text.endswith("passed: 0 error(s), 0 warning(s)")
    assert json.loads(json.dumps(report.as_dict()))["ok"] is True


def test_module_level_torch_import_is_an_error(tmp_path: Path) -> None:
    spec = _plugin(
        tmp_path,
        """
        import torch

        @hookimpl
        def tvae_register_losses(register):
            register("heavy_kl", "tvae_core.testing:TinyKL", description="KL")
        """,
    )
    report = check_plugin(spec)
    assert not report.ok
    assert "imports torch at module level" in _messages(report, "error")
    assert "lazy 'package.module:Class'" in _messages(report, "error")


@pytest.mark.parametrize(
    ("body", "message", "fix"),
    [
        (
            "@hookimpl\ndef tvae_register_loses(register):\n    pass\n",
            "did you mean 'tvae_register_losses'",
            "rename the function",
        ),
        (
            "@hookimpl\ndef tvae_register_losses(reg):\n    pass\n",
            "reg",
            "exactly one argument named `register`",
        ),
        ("import not_a_module_anywhere\n", "import failed", "shows the traceback"),
        (
            "@hookimpl\ndef tvae_register_losses(register):\n    register('x', 'no_colon')\n",
            "package.module:attribute",
            "package.module:attribute",
        ),
    ],
)
def test_load_errors_name_the_cause_and_the_fix(
    tmp_path: Path, body: str, message: str, fix: str
) -> None:
    report = check_plugin(_plugin(tmp_path, body))
    errors = _messages(report, "error")
    assert not report.ok and message in errors and fix in errors, report.render()


def test_component_problems_are_reported_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "bad_components.py").write_text(
        textwrap.dedent(
            """
            import torch

            class VectorLoss:
                def __init__(self, scale=1.0, **extra):
                    self.scale = scale

                def __call__(self, outputs, batch):
                    return outputs["mu"].pow(2).sum(-1) * self.scale

            class NeedsOther:
                requires = frozenset({"outputs.z_other"})

                def __call__(self, outputs, batch):
                    return outputs["z_other"].mean()

            def needs_margin(margin: float):
                return NeedsOther()
            """
        )
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        spec = _plugin(
            tmp_path,
            """
            @hookimpl
            def tvae_register_losses(register):
                register("vector", "bad_components:VectorLoss")
                register("Other-Name", "bad_components:NeedsOther", description="d")
                register("margin", "bad_components:needs_margin", description="d")
                register("missing", "bad_components:Nowhere", description="d")
            """,
        )
        report = check_plugin(spec)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("bad_components", None)
    errors, warnings = _messages(report, "error"), _messages(report, "warning")
    assert "loss 'vector': returned (9,); a loss returns a scalar tensor" in errors
    assert "loss 'missing'" in errors and "cannot be imported" in errors
    assert "loss 'vector': lazy factory without a description" in warnings
    assert "without a type hint accept anything: scale" in warnings
    assert "**kwargs are never filled" in warnings
    assert "lowercase snake_case" in warnings and "'other_name'" in warnings
    skipped = "\n".join(report.skipped)
    assert "'Other-Name': conformance (requires ['outputs.z_other']" in skipped
    assert "'margin': conformance (settings without defaults: margin)" in skipped


def test_a_project_folder_is_checked_from_its_sources_without_installing(tmp_path: Path) -> None:
    project = create_plugin("folder-check", tmp_path)
    report = check_plugin(str(project))
    assert report.ok, report.render()
    assert (
        "loss 'folder_check_latent_norm': imports, settings schema, loss interface" in report.passed
    )
    assert any("callback 'folder_check_best_logger'" in line for line in report.passed)


def test_a_project_folder_without_entry_points_or_core_dependency(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\ndependencies = ["torch==2.3.0"]\n'
    )
    report = check_plugin(str(tmp_path))
    assert 'declares no [project.entry-points."tvae.plugins"]' in _messages(report, "error")
    warnings = _messages(report, "warning")
    assert "does not depend on tvae-core" in warnings and "pins 'torch==2.3.0'" in warnings


def test_an_unknown_spec_is_a_usage_error_listing_installed_plugins() -> None:
    with pytest.raises(UsageError, match="no plugin, distribution, project folder"):
        check_plugin("surely-not-a-plugin-xyz")
    with pytest.raises(UsageError, match="no such file"):
        check_plugin("missing_file.py")
