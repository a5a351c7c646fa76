"""The component kinds and what each promises: one table, used by every part that needs it.

For each kind (:data:`CONTRACTS`): its config section, its registration hook, the
arguments the engine passes before the settings, the settings the run fills in when the
config leaves them unset, what the factory must return — checked on every component a run
builds (:meth:`Contract.interface_problem`) — and how a built component is exercised on
tiny fixtures (:meth:`Contract.exercise`), the conformance check of
:func:`tvae_core.testing.check_component` and ``tvae plugins check``.

The engine, the testing kit and the plugin check all read this module; none keeps its own
copy. Problems come back as :class:`Problem` records (a stable code, the component, a
message and a hint), never as strings to parse. Nothing here imports torch until a check
runs, so the table itself is free to import for ``tvae list``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tvae_core._errors import describe
from tvae_core._plugins.interfaces import DATASET_METHODS, VAL_PREFIX, Callback

if TYPE_CHECKING:
    import torch

Severity = Literal["error", "warning", "skip"]

#: A metric that declares no ``higher_is_better`` is taken as higher-is-better.
DEFAULT_HIGHER_IS_BETTER = True


@dataclass(frozen=True)
class Problem:
    """One way a component breaks its kind's contract.

    ``code`` is stable (tests and tools match on it); ``severity`` is ``error`` (it breaks
    runs), ``warning`` (it works, badly) or ``skip`` (it could not be checked here).
    """

    code: str
    component: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.component}: {self.message}"


@dataclass(frozen=True)
class Subject:
    """A built component under test: what it is called, and how to build another one."""

    built: Any
    name: str
    label: str
    rebuild: Callable[[], Any]


class Probe(Protocol):
    """Tiny fixtures to exercise a component on (:mod:`tvae_core.testing` provides them)."""

    epochs: int

    def dataset(self) -> Any:
        """A dataset, set up on the CPU."""

    def model(self) -> torch.nn.Module:
        """A fresh, seeded model that fits :meth:`dataset`."""

    def train_with(self, callback: Callback) -> tuple[str, str]:
        """Train a tiny run with ``callback``; its status and stop reason."""


def required_keys(component: object) -> set[str]:
    """The keys a loss or metric reads, from its optional ``requires`` attribute."""
    return set(getattr(component, "requires", ()) or ())


def missing_keys(component: object, outputs: Collection[str], batch: Collection[str]) -> list[str]:
    """The ``requires`` keys that neither place provides, sorted.

    ``"outputs.k"`` must be a model output, ``"batch.k"`` a batch key, a bare ``"k"`` either.
    """
    missing = []
    for key in sorted(required_keys(component)):
        scope, _, name = key.rpartition(".")
        if scope == "outputs":
            found = name in outputs
        elif scope == "batch":
            found = name in batch
        else:
            found = name in outputs or name in batch
        if not found:
            missing.append(key)
    return missing


def metric_directions(name: str, metric: object) -> tuple[bool | None, dict[str, bool | None]]:
    """How a metric's values improve: ``(default, {log key: direction})``.

    A metric may declare ``higher_is_better`` (on the object or its class): a bool for
    every key it returns, or a mapping ``{key: True | False | None}`` per returned key, None
    meaning a constant that has no best (a ceiling). A key the mapping does not list, and
    every key of a metric that declares nothing, is higher-is-better
    (:data:`DEFAULT_HIGHER_IS_BETTER`). Keys are returned as logged (``val/<key>``).
    """
    declared = getattr(metric, "higher_is_better", DEFAULT_HIGHER_IS_BETTER)
    if isinstance(declared, Mapping):
        return DEFAULT_HIGHER_IS_BETTER, {f"{VAL_PREFIX}{k}": v for k, v in declared.items()}
    return bool(declared), {f"{VAL_PREFIX}{name}": bool(declared)}


def _direction_problem(label: str, metric: object) -> Problem | None:
    declared = getattr(metric, "higher_is_better", None)
    values = list(declared.values()) if isinstance(declared, Mapping) else [declared]
    if declared is None or all(v is None or isinstance(v, bool) for v in values):
        return None
    return Problem(
        "direction-invalid",
        label,
        f"higher_is_better is {declared!r}",
        "declare a bool, or a mapping of each returned key to True, False or None",
    )


def _wrong_type(label: str, built: object, expected: str, call: str = "the factory") -> Problem:
    return Problem(
        "wrong-type",
        label,
        f"{call} returned a {type(built).__name__}, not {expected}",
        "see the component interfaces in the plugin guide",
    )


# -- the contracts ---------------------------------------------------------------------------
class Contract:
    """What a component of one kind promises. Subclasses below, one per kind."""

    kind: str
    #: The config section holding components of this kind.
    section: str
    #: The registration hook.
    hook: str
    #: Arguments the engine passes before the settings (they are not settings).
    leading: tuple[str, ...] = ()
    #: Settings the run fills in when the config leaves them unset; None: any the data gives.
    context: tuple[str, ...] | None = ()
    #: What the factory returns, in one line (for the docs and ``tvae show``).
    returns: str

    def context_values(self, epochs: int, dataset: Any) -> dict[str, Any]:
        """The values of :attr:`context` for a run of ``epochs`` on ``dataset``."""
        return {}

    def fill_context(
        self, factory: Callable[..., Any], settings: Mapping[str, Any], values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``settings`` plus the ``values`` the factory takes and the config left unset."""
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            return dict(settings)
        return {**{k: v for k, v in values.items() if k in params}, **settings}

    def interface_problem(self, built: object, label: str) -> Problem | None:
        """A problem if ``built`` is not what a factory of this kind must return."""
        return None

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        """Problems found using the built component on the probe's fixtures.

        Called only for a component that passed :meth:`interface_problem`.
        """
        return []


class ModelContract(Contract):
    kind, section, hook = "model", "model", "tvae_register_models"
    context = None
    returns = "a torch.nn.Module whose forward(batch) returns a dict of tensors"

    def context_values(self, epochs: int, dataset: Any) -> dict[str, Any]:
        return dict(dataset.model_context()) if dataset is not None else {}

    def interface_problem(self, built: object, label: str) -> Problem | None:
        import torch

        if isinstance(built, torch.nn.Module):
            return None
        return _wrong_type(label, built, "a torch.nn.Module")

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        import torch

        built, label = subject.built, subject.label
        built.train()
        outputs = built(next(iter(probe.dataset().train_batches(0))))
        if not isinstance(outputs, Mapping):
            return [
                Problem(
                    "outputs-not-dict",
                    label,
                    f"forward(batch) returned a {type(outputs).__name__}, not a dict of tensors",
                )
            ]
        bad = [
            k
            for k, v in outputs.items()
            if not isinstance(k, str) or not isinstance(v, torch.Tensor)
        ]
        if bad:
            return [
                Problem(
                    "outputs-not-tensors",
                    label,
                    f"forward(batch) returned non-tensor values for {bad}",
                )
            ]
        if not any(v.requires_grad for v in outputs.values()):
            return [
                Problem(
                    "outputs-no-grad",
                    label,
                    "no output of forward(batch) depends on the parameters (nothing requires grad)",
                )
            ]
        return []


class DatasetContract(Contract):
    kind, section, hook = "dataset", "data", "tvae_register_datasets"
    returns = (
        "a tvae_core.Dataset (usually a tvae_core.TensorDataset) of dict batches on the device"
    )

    def interface_problem(self, built: object, label: str) -> Problem | None:
        missing = [m for m in DATASET_METHODS if not callable(getattr(built, m, None))]
        batch_size = getattr(built, "batch_size", None)
        if not missing and isinstance(batch_size, int) and not isinstance(batch_size, bool):
            return None
        what = ", ".join(f"{m}()" for m in missing) or "an int batch_size"
        return Problem(
            "missing-members",
            label,
            f"{type(built).__name__} lacks {what}",
            "implement tvae_core.Dataset, or subclass tvae_core.TensorDataset",
        )

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        import torch

        built, label = subject.built, subject.label
        problems = []
        built.setup(device=torch.device("cpu"), seed=0)
        epoch0 = [dict(b) for b in built.train_batches(0)]
        if len(epoch0) != built.num_train_batches():
            problems.append(
                Problem(
                    "batch-count",
                    label,
                    f"train_batches(0) yielded {len(epoch0)} batches but "
                    f"num_train_batches() says {built.num_train_batches()}",
                )
            )
        for i, batch in enumerate(epoch0 + [dict(b) for b in built.eval_batches()]):
            lengths = {
                k: (len(v) if isinstance(v, torch.Tensor) and v.dim() else None)
                for k, v in batch.items()
            }
            if not batch or None in lengths.values() or len(set(lengths.values())) != 1:
                problems.append(
                    Problem(
                        "batch-shape",
                        label,
                        f"batch {i} is not a dict of equal-length tensors: {lengths}",
                    )
                )
                break
        again = [dict(b) for b in built.train_batches(0)]
        same = all(torch.equal(a[k], b[k]) for a, b in zip(epoch0, again, strict=False) for k in a)
        if epoch0 and again and not same:
            problems.append(
                Problem(
                    "order-not-repeatable",
                    label,
                    "train_batches(0) differs between two calls",
                    "shuffle from (seed, epoch) only",
                )
            )
        if not isinstance(built.model_context(), Mapping):
            problems.append(
                Problem("context-not-dict", label, "model_context() must return a dict")
            )
        return problems


class _OnOutputs(Contract):
    """Losses and metrics: callables on the model's outputs and the batch."""

    def interface_problem(self, built: object, label: str) -> Problem | None:
        if callable(built):
            return None
        return Problem(
            "wrong-type",
            label,
            f"the factory returned a {type(built).__name__}, which is not callable",
            "return a callable (outputs, batch) -> value",
        )

    def _inputs(self, label: str, built: Any, probe: Probe, *, train: bool) -> Any:
        import torch

        data, net = probe.dataset(), probe.model()
        if train:
            net.train()
            batch = dict(next(iter(data.train_batches(0))))
            outputs = net(batch)
        else:
            net.eval()
            parts: dict[str, list[torch.Tensor]] = {}
            for b in data.eval_batches():
                for k, v in b.items():
                    parts.setdefault(k, []).append(v)
            batch = {k: torch.cat(v) for k, v in parts.items()}
            with torch.no_grad():
                outputs = net(batch)
        missing = missing_keys(built, outputs, batch)
        if missing:
            return Problem(
                "untestable",
                label,
                f"requires {missing}, which the test model/dataset do not provide",
                "pass model= and dataset= that do",
                severity="skip",
            )
        return net, outputs, batch


class LossContract(_OnOutputs):
    kind, section, hook = "loss", "losses", "tvae_register_losses"
    returns = "a callable (outputs, batch) -> scalar tensor, with an optional requires"

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        import torch

        built, label = subject.built, subject.label
        inputs = self._inputs(label, built, probe, train=True)
        if isinstance(inputs, Problem):
            return [inputs]
        net, outputs, batch = inputs
        value = built(outputs, batch)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return [
                Problem(
                    "loss-not-scalar",
                    label,
                    f"returned {shape}; a loss returns a scalar tensor",
                    "reduce with .mean()",
                )
            ]
        if not bool(torch.isfinite(value)):
            return [Problem("not-finite", label, f"returned a non-finite value {float(value)}")]
        if not value.requires_grad:
            return [
                Problem(
                    "no-gradient",
                    label,
                    "the returned loss has no gradient (detached, or computed with .item()/numpy)",
                )
            ]
        net.zero_grad(set_to_none=True)
        value.backward()
        if not any(p.grad is not None for p in net.parameters()):
            return [Problem("no-backward", label, "backward() reached no model parameter")]
        return []


class MetricContract(_OnOutputs):
    kind, section, hook = "metric", "metrics", "tvae_register_metrics"
    returns = "a callable (outputs, batch) -> float | Mapping[str, float], with optional requires and higher_is_better"

    def interface_problem(self, built: object, label: str) -> Problem | None:
        return super().interface_problem(built, label) or _direction_problem(label, built)

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        import torch

        built, label = subject.built, subject.label
        inputs = self._inputs(label, built, probe, train=False)
        if isinstance(inputs, Problem):
            return [inputs]
        _, outputs, batch = inputs
        with torch.no_grad():
            value = built(outputs, batch)
        problems = []
        items = value.items() if isinstance(value, Mapping) else [(subject.name, value)]
        for key, v in items:
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                v = v.item()
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                problems.append(
                    Problem(
                        "value-type",
                        label,
                        f"value {key!r} is a {type(v).__name__}; return a float or a dict of floats",
                    )
                )
            elif not math.isfinite(v):
                problems.append(Problem("not-finite", label, f"value {key!r} is not finite ({v})"))
        return problems


class OptimizerContract(Contract):
    kind, section, hook = "optimizer", "optimizer", "tvae_register_optimizers"
    leading = ("params",)
    returns = "a torch.optim.Optimizer, from factory(params, **settings)"

    def interface_problem(self, built: object, label: str) -> Problem | None:
        import torch

        if isinstance(built, torch.optim.Optimizer):
            return None
        return _wrong_type(label, built, "a torch.optim.Optimizer", "factory(params, ...)")

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        import torch

        built, label = subject.built, subject.label
        params = [p for group in built.param_groups for p in group["params"]]
        before = [p.detach().clone() for p in params]
        loss = torch.stack([p.float().pow(2).sum() for p in params]).sum()
        built.zero_grad()
        loss.backward()
        built.step()
        if all(torch.equal(a, b) for a, b in zip(before, params, strict=True)):
            return [Problem("no-step", label, "step() changed no parameter")]
        return []


class SchedulerContract(Contract):
    kind, section, hook = "scheduler", "scheduler", "tvae_register_schedulers"
    leading = ("optimizer",)
    context = ("total_epochs", "steps_per_epoch")
    returns = "a torch.optim.lr_scheduler.LRScheduler stepped once per epoch, from factory(optimizer, **settings)"

    def context_values(self, epochs: int, dataset: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"total_epochs": epochs}
        if dataset is not None:
            values["steps_per_epoch"] = int(dataset.num_train_batches())
        return values

    def interface_problem(self, built: object, label: str) -> Problem | None:
        import torch

        if isinstance(built, torch.optim.lr_scheduler.LRScheduler):
            return None
        return _wrong_type(
            label, built, "a torch.optim.lr_scheduler.LRScheduler", "factory(optimizer, ...)"
        )

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        built, label = subject.built, subject.label
        optimizer = built.optimizer
        for _ in range(5):
            optimizer.step()
            built.step()
            lr = optimizer.param_groups[0]["lr"]
            if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
                return [Problem("lr-invalid", label, f"the learning rate became {lr!r}")]
        return []


class CallbackContract(Contract):
    kind, section, hook = "callback", "callbacks", "tvae_register_callbacks"
    returns = "a tvae_core.Callback"

    def interface_problem(self, built: object, label: str) -> Problem | None:
        if isinstance(built, Callback):
            return None
        return _wrong_type(label, built, "a tvae_core.Callback")

    def exercise(self, subject: Subject, probe: Probe) -> list[Problem]:
        import io

        import torch

        built, label = subject.built, subject.label
        status, reason = probe.train_with(built)
        if status not in ("completed", "stopped_early"):
            return [Problem("run-failed", label, f"a tiny run with it ended {status}: {reason}")]
        state = built.state_dict()
        if not isinstance(state, Mapping):
            return [
                Problem(
                    "state-not-dict",
                    label,
                    f"state_dict() returned a {type(state).__name__}, not a dict",
                )
            ]
        try:
            buffer = io.BytesIO()
            torch.save(dict(state), buffer)
            buffer.seek(0)
            loaded = torch.load(buffer, weights_only=True)
        except Exception as exc:
            return [
                Problem(
                    "state-unsafe",
                    label,
                    "state_dict() is not checkpoint-safe (tensors, numbers, strings, lists, "
                    f"dicts only): {describe(exc)}",
                )
            ]
        fresh = subject.rebuild()
        fresh.load_state_dict(loaded)
        if not _same(fresh.state_dict(), state):
            return [
                Problem(
                    "state-not-restored",
                    label,
                    "load_state_dict(state_dict()) does not restore the state "
                    f"({dict(fresh.state_dict())!r} != {dict(state)!r})",
                )
            ]
        return []


def _same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


#: Every component kind's contract, in the order runs build them and listings show them.
CONTRACTS: dict[str, Contract] = {
    c.kind: c
    for c in (
        ModelContract(),
        DatasetContract(),
        LossContract(),
        OptimizerContract(),
        SchedulerContract(),
        CallbackContract(),
        MetricContract(),
    )
}
KINDS: tuple[str, ...] = tuple(CONTRACTS)
#: The registration hook of each kind.
HOOK_OF_KIND: dict[str, str] = {k: c.hook for k, c in CONTRACTS.items()}


def contract(kind: str) -> Contract:
    """The contract of ``kind``; a ValueError naming the kinds for anything else."""
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}") from None
