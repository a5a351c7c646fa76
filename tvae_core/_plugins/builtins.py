"""Components of the core that need nothing beyond torch, registered like any plugin's.

Also the preset ``default``: the embedded default run (``tvae run`` without a config). Block
them with ``--plugin no:builtins``.
"""

from __future__ import annotations

from tvae_core._plugins.hookspecs import hookimpl
from tvae_core._plugins.registry import RegisterFn

_IMPL = "tvae_core._engine.optim"


@hookimpl
def tvae_register_optimizers(register: RegisterFn) -> None:
    register("adam", f"{_IMPL}:adam", description="Adam (fused kernels where torch has them)")
    register("adamw", f"{_IMPL}:adamw", description="AdamW: Adam with decoupled weight decay")
    register("sgd", f"{_IMPL}:sgd", description="Stochastic gradient descent with momentum")


@hookimpl
def tvae_register_schedulers(register: RegisterFn) -> None:
    register("constant", f"{_IMPL}:constant", description="Keep the learning rate fixed")
    register(
        "cosine",
        f"{_IMPL}:cosine",
        description="Cosine decay from the base rate to min_lr over the run",
    )
    register(
        "warmup_cosine",
        f"{_IMPL}:warmup_cosine",
        description="Linear warm-up for warmup_epochs, then cosine decay to min_lr",
    )


@hookimpl
def tvae_register_presets(register: RegisterFn) -> None:
    register(
        "default",
        "tvae_core:default_config.yaml",
        description="The default run: all 3^9 operations into an 18-D Poincaré ball",
    )
