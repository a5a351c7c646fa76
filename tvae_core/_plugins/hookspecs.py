"""The hooks a tvae plugin implements.

A plugin is a module (or object) with functions decorated by :data:`tvae_core.hookimpl`,
named after the hooks below. Each ``tvae_register_<kind>`` hook is called exactly once per
plugin manager, when the registry is first built, with a ``register`` callable::

    register(name, factory, *, description=None, settings=None, higher_is_better=None)

- ``name``: the component's name in configs (``padic_ranking``); unique within the plugin.
- ``factory``: a callable building the component from its settings, or a lazy import string
  ``"package.module:attribute"`` so that listing components imports nothing heavy.
- ``description``: one line for ``tvae list``; defaults to the first line of the factory's
  docstring (which imports a lazy factory, so give it for lazy ones).
- ``settings``: a pydantic model of the settings; by default it is derived from the factory's
  signature (type hints and defaults), and unknown keys are always rejected.
- ``higher_is_better`` (metrics only): how the metric's values improve, as the attribute of
  the same name (a bool, or ``{key: True | False | None}``); the built metric's own
  attribute wins.

Plugin modules must not import torch at module level: ``tvae list`` and ``tvae plugins``
import every plugin module and must stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tvae_core._plugins.registry import RegisterFn

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
    yields dict batches of tensors held on the training device: it has an int
    ``batch_size`` and the methods ``setup``, ``train_batches``, ``num_train_batches``,
    ``eval_batches`` and ``model_context``, checked when a run builds it.
    """


@hookspec
def tvae_register_losses(register: RegisterFn) -> None:
    """Register loss factories.

    Called once, when the registry is built. A loss factory returns a callable
    ``loss(outputs, batch) -> scalar tensor``; an optional ``requires`` attribute (a set of
    strings, ``"outputs.z"`` or ``"batch.valuation"``, or bare output names) is checked
    against the model and dataset before the first step. The config's ``weight`` key is
    not passed to the factory: the :class:`tvae_core.LossRegistry` owns weights. An optional
    ``weight_log_key`` attribute logs the term's current weight under that key every epoch
    (the KL's is ``beta``).
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
    that the engine steps once per epoch. Parameters named ``total_epochs`` and
    ``steps_per_epoch`` that the config leaves unset are filled from the run (its ``epochs``,
    and its dataset's ``num_train_batches()``).
    """


@hookspec
def tvae_register_callbacks(register: RegisterFn) -> None:
    """Register callback factories.

    Called once, when the registry is built. A callback factory returns a
    :class:`tvae_core.Callback`: event methods (in the order documented on
    :class:`tvae_core.Callback`), a ``state_dict()`` saved in checkpoints under its
    ``state_key``, and at fit start and end a :class:`tvae_core.RunContext` (the config, the
    run folder, rank, epoch, step, the model, the loss weights, ``control`` to stop or save,
    ``evaluate()``, ``validate()``, ``save_checkpoint()``), never the trainer itself.
    """


@hookspec
def tvae_register_metrics(register: RegisterFn) -> None:
    """Register evaluation metric factories.

    Called once, when the registry is built. A metric factory returns a callable
    ``metric(outputs, batch) -> float | Mapping[str, float]`` evaluated at validation on the
    model's outputs over the whole evaluation set (model in eval mode, tensors concatenated
    over batches). A float is logged as ``val/<name>``; a mapping as ``val/<key>`` per key.
    An optional ``requires`` attribute works as for losses. An optional ``higher_is_better``
    (a bool, or a mapping ``{key: True | False | None}`` per returned key, None for a
    constant) decides each value's best in ``summary.json``; undeclared values are
    higher-is-better.
    """


@hookspec
def tvae_register_presets(register: RegisterFn) -> None:
    """Register presets: named run configs (``tvae list preset``, ``tvae run NAME``).

    Called once, when the registry is built, with ``register(name, config, *,
    description=None)``. ``config`` is ``"package:path/in/package.yaml"`` (a file shipped in
    the package, read with :mod:`importlib.resources`, comments kept for ``tvae config
    NAME``) or the config as a dict. Like a config file, a preset gives the sections it
    changes; the others come from the embedded default run (itself the built-in preset
    ``default``).
    """


@hookspec
def tvae_add_commands(app: object) -> None:
    """Add sub-commands to the ``tvae`` command line, from a plugin given with ``--plugin``.

    Called when ``tvae`` starts, with a ``typer.Typer`` application to add commands to, for
    the plugins named by ``--plugin`` (a module or a ``.py`` file) only. An installed plugin
    declares its commands as entry points instead, so that ``tvae`` finds them without
    importing it::

        [project.entry-points."tvae.commands"]
        radius-report = "my_package.commands:add_radius_report"

    where ``add_radius_report(app)`` adds the command of that name to ``app``; it is
    imported only when the command runs (or shows its help). A command may not take the
    name of a core command or of another plugin's; such a command is refused and
    reported by ``tvae plugins``. Raise :class:`tvae_core.UsageError` for a mistake of the
    user: it prints as one line with exit code 2; any other exception of a plugin command is
    reported as one line naming the command and its plugin.
    """


@hookspec(firstresult=True)
def tvae_sweep_search(sweep: Any, worker: bool, max_trials: int | None) -> Mapping[str, Any] | None:
    """Run the ``search:`` section of a sweep file, if this plugin is its backend.

    ``sweep`` is a :class:`tvae_core.Sweep` (typed loosely here: sweeps sit above the
    plugin layer).

    Called by ``tvae sweep`` once per process: after the grid in the main process, and alone
    in a ``--worker`` process (``worker`` is True there; ``max_trials`` caps its trials). A
    plugin whose backend is ``sweep.search["backend"]`` (default ``"optuna"``) runs the
    trials through :meth:`tvae_core.Sweep.run`, so that each is an ordinary run folder, and
    returns the search's results (kept under ``search`` in ``DIR/<sweep>/results.json``;
    ``trials``, a list of mappings with ``number``, ``state``, ``value``, ``params`` and
    ``runs``, and ``best`` are printed); any other plugin returns None.
    """
