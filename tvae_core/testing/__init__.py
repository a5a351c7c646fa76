"""Test helpers for plugin authors: load a plugin for one test, train it tiny, check conformance.

Everything here needs only torch and the core, never a first-party plugin, so a plugin's
tests run wherever ``tvae-core`` is installed::

    from tvae_core.testing import check_component, plugin_manager, run_tiny

    import my_plugin.plugin

    def test_registers_my_loss():
        pm = plugin_manager(my_plugin.plugin)          # builtins + this plugin only
        assert ("loss", "my_loss") in pm.registry

    def test_my_loss_conforms():
        check_component("loss", "my_plugin.losses:MyLoss", {"margin": 0.1})

    def test_trains():
        summary = run_tiny({"losses": [{"name": "my_loss"}]}, plugins=[my_plugin.plugin])
        assert summary.status == "completed"

The tiny fixtures (:class:`TinyTernaryData`, :class:`TinyVAE`) mimic the real ones at toy
size: batches carry ``x`` (B, n) float trits, ``index`` and ``valuation``; the model returns
``logits`` (B, n, 3), ``mu``, ``logvar``, ``z`` and ``z_mean`` (on the unit Poincaré ball).
They are registered by :data:`tiny_plugin` under the names ``tiny_ternary``, ``tiny_vae``,
``tiny_reconstruction``, ``tiny_kl`` and ``tiny_coverage``. :class:`FakeRun` stands in
for the run a callback is given, to test its events one by one. The checks themselves are each
kind's contract (:mod:`tvae_core._plugins.contracts`), the same ones a run and
``tvae plugins check`` apply.
"""

from tvae_core._plugins.contracts import Problem
from tvae_core.testing._fixtures import (
    TINY_CONFIG,
    FakeRun,
    TinyCoverage,
    TinyKL,
    TinyReconstruction,
    TinyTernaryData,
    TinyVAE,
    tiny_batch,
    tiny_plugin,
    tiny_trits,
    tiny_valuation,
)
from tvae_core.testing._harness import (
    KINDS,
    ConformanceError,
    TinyProbe,
    check_component,
    conformance_problems,
    plugin_manager,
    run_tiny,
    tiny_trainer,
)

__all__ = [
    "KINDS",
    "TINY_CONFIG",
    "ConformanceError",
    "FakeRun",
    "Problem",
    "TinyCoverage",
    "TinyKL",
    "TinyProbe",
    "TinyReconstruction",
    "TinyTernaryData",
    "TinyVAE",
    "check_component",
    "conformance_problems",
    "plugin_manager",
    "run_tiny",
    "tiny_batch",
    "tiny_plugin",
    "tiny_trainer",
    "tiny_trits",
    "tiny_valuation",
]
