"""The hooks a tvae plugin implements.

A plugin is a module (or object) with functions decorated by :data:`tvae_core.hookimpl`,
named after the hooks below. Each ``tvae_register_<kind>`` hook is called exactly once per
plugin manager, when the registry is first built, with a ``register`` callable::

    register(name, factory, *, description=None, settings=None)

- ``name``: the component's name in configs (``padic_ranking``); unique within the plugin.
- ``factory``: a callable building the component from its settings, or a lazy import string
  ``"package.module:attribute"`` so that listing components imports nothing heavy.
- ``description``: one line for ``tvae list``; defaults to the first line of the factory's
  docstring (which imports a lazy factory, so give it for lazy ones).
- ``settings``: a pydantic model of the settings; by default it is derived from the factory's
  signature (type hints and defaults), and unknown keys are always rejected.

Plugin modules must not import torch at module level: ``tvae list`` and ``tvae plugins``
import every plugin module and must stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from tvae_core._registry import RegisterFn
    from tvae_core._sweep import Sweep

PROJECT_NAME = "tvae"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def tvae_register_models(register: RegisterFn) -> None:
    """Register model factories.

    Called once, when the registry is built. A model factory returns a ``torch.nn.Module``
    whose ``forward(batch)`` takes the batch dict and returns a dict of tensors. Settings the
    dataset provides (its ``model_context()``, such as ``input_dim``) fill parameters of the
    same name that the config leaves unset.
    """


@hookspec
def tvae_register_datasets(register: RegisterFn) -> None:
    """Register dataset factories.

    Called once, when the registry is built. A dataset factory returns a
    :class:`tvae_core.Dataset` (usually a :class:`tvae_core.TensorDataset` subclass) that
    yields dict batches of tensors held on the training device.
    """


@hookspec
def tvae_register_losses(register: RegisterFn) -> None:
    """Register loss factories.

    Called once, when the registry is built. A loss factory returns a callable
    ``loss(outputs, batch) -> scalar tensor``; an optional ``requires`` attribute (a set of
    strings, ``"outputs.z"`` or ``"batch.valuation"``, or bare output names) is checked
    against the model and dataset before the first step. The config's ``weight`` key is
    not passed to the factory: the :class:`tvae_core.LossRegistry` owns weights.
    """


@hookspec
def tvae_register_optimizers(register: RegisterFn) -> None:
    """Register optimizer factories.

    Called once, when the registry is built. An optimizer factory is called as
    ``factory(params, **settings)`` and returns a ``torch.optim.Optimizer``; its first
    parameter is not part of the settings schema.
    """


@hookspec
def tvae_register_schedulers(register: RegisterFn) -> None:
    """Register learning-rate scheduler factories.

    Called once, when the registry is built. A scheduler factory is called as
    ``factory(optimizer, **settings)`` and returns a ``torch.optim.lr_scheduler.LRScheduler``
    that the engine steps once per epoch. If the factory has a parameter named
    ``total_epochs`` that the config leaves unset, the engine fills it with the run's ``epochs``.
    """


@hookspec
def tvae_register_callbacks(register: RegisterFn) -> None:
    """Register callback factories.

    Called once, when the registry is built. A callback factory returns a
    :class:`tvae_core.Callback`.
    """


@hookspec
def tvae_register_metrics(register: RegisterFn) -> None:
    """Register evaluation metric factories.

    Called once, when the registry is built. A metric factory returns a callable
    ``metric(outputs, batch) -> float | Mapping[str, float]`` evaluated at validation on the
    model's outputs over the whole evaluation set (model in eval mode, tensors concatenated
    over batches). A float is logged as ``val/<name>``; a mapping as ``val/<key>`` per key.
    An optional ``requires`` attribute works as for losses.
    """


@hookspec
def tvae_add_commands(app: object) -> None:
    """Add sub-commands to the ``tvae`` command line.

    Called once when the CLI starts, with the root ``typer.Typer`` application. Keep the
    commands' imports inside their functions so that ``tvae --help`` stays fast.
    """


@hookspec(firstresult=True)
def tvae_sweep_search(
    sweep: Sweep, worker: bool, max_trials: int | None
) -> Mapping[str, Any] | None:
    """Run the ``search:`` section of a sweep file, if this plugin is its backend.

    Called by ``tvae sweep`` once per process: after the grid in the main process, and alone
    in a ``--worker`` process (``worker`` is True there; ``max_trials`` caps its trials). A
    plugin whose backend is ``sweep.search["backend"]`` (default ``"optuna"``) runs the
    trials through :meth:`tvae_core.Sweep.run`, so that each is an ordinary run folder, and
    returns the search's results (kept under ``search`` in ``DIR/<sweep>/results.json``;
    ``trials``, a list of mappings with ``number``, ``state``, ``value``, ``params`` and
    ``runs``, and ``best`` are printed); any other plugin returns None.
    """
