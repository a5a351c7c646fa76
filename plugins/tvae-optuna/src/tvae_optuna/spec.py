"""The ``search:`` section of a sweep file, checked with one-line errors naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tvae_core import ConfigError

#: ``sampler.name`` -> Optuna sampler class; extra keys are its constructor's arguments.
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "bruteforce": "BruteForceSampler",
}
#: ``pruner.name`` -> Optuna pruner class; extra keys are its constructor's arguments.
PRUNERS = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "threshold": "ThresholdPruner",
    "wilcoxon": "WilcoxonPruner",
    "none": "NopPruner",
}


class ParamSpace(BaseModel):
    """One searched config path: a range (``low``, ``high``, ``log``, ``step``) or ``choices``.

    The kind is ``type`` when given, else ``categorical`` for ``choices``, ``int`` when both
    bounds are integers (``{low: 1, high: 4}``) and ``float`` otherwise (``{low: 1.0e-3, ...}``).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"] | None = None
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ParamSpace:
        if self.type is None:
            if self.choices is not None:
                self.type = "categorical"
            elif isinstance(self.low, int) and isinstance(self.high, int):
                self.type = "int"
            else:
                self.type = "float"
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty list of choices")
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
        else:
            if self.low is None or self.high is None:
                raise ValueError("a range needs low and high (or give choices)")
            if self.low > self.high:
                raise ValueError(f"low ({self.low}) is above high ({self.high})")
            if self.log and self.low <= 0:
                raise ValueError("a log range needs low > 0")
            if self.log and self.step is not None:
                raise ValueError("give either log or step, not both")
        return self

    def suggest(self, trial: Any, name: str) -> Any:
        """The trial's value of this parameter."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        low, high = self.low, self.high
        assert low is not None and high is not None  # a range: checked by _complete
        if self.type == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(name, int(low), int(high), step=step, log=self.log)
        return trial.suggest_float(name, float(low), float(high), step=self.step, log=self.log)

    def example(self) -> Any:
        """A value of the space (its low end or first choice), to check the config with."""
        return self.choices[0] if self.type == "categorical" else self.low  # type: ignore[index]


class _Named(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SearchSpec(BaseModel):
    """The keys of ``search:``; see the plugin's README for each."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["optuna"] = "optuna"
    trials: int = Field(ge=1)
    metric: str = Field(min_length=1)
    params: dict[str, ParamSpace] = Field(min_length=1)
    direction: Literal["maximize", "minimize"] | None = None
    use: Literal["final", "best"] = "final"
    storage: str | None = None
    study: str | None = None
    workers: int = Field(1, ge=1, le=256)
    sampler: _Named = Field(default_factory=lambda: _Named(name="tpe"))
    pruner: _Named | None = None
    heartbeat_s: int | None = Field(60, ge=1)

    @model_validator(mode="after")
    def _known_names(self) -> SearchSpec:
        if self.sampler.name not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler.name!r} is not one of: {', '.join(SAMPLERS)}")
        if self.pruner is not None and self.pruner.name not in PRUNERS:
            raise ValueError(f"pruner {self.pruner.name!r} is not one of: {', '.join(PRUNERS)}")
        if self.sampler.name == "grid" and any(
            p.type != "categorical" for p in self.params.values()
        ):
            raise ValueError("the grid sampler needs every parameter as choices: [...]")
        return self

    @property
    def prunes(self) -> bool:
        return self.pruner is not None and self.pruner.name != "none"


def parse_search(data: Mapping[str, Any], where: str) -> SearchSpec:
    """``data`` as a :class:`SearchSpec`; a mistake is one ConfigError naming ``search.<key>``."""
    try:
        return SearchSpec.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        path = "search" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in err["loc"])
        if err["type"] == "extra_forbidden":
            import difflib

            key = str(err["loc"][-1])
            known = (
                list(SearchSpec.model_fields)
                if len(err["loc"]) == 1
                else list(ParamSpace.model_fields)
            )
            close = difflib.get_close_matches(key, known, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; expected one of: {', '.join(known)}"
            )
            raise ConfigError(f"unknown key {key!r}{hint}", where=path, source=where) from None
        if err["type"] == "missing":
            raise ConfigError("required key is missing", where=path, source=where) from None
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(message, where=path, source=where) from None
