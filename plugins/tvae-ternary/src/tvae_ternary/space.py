"""The ternary space: index <-> trits, the 3-adic valuation table, level sizes, d_3.

One convention everywhere (TERNARY.md): digit ``d_k = floor(i / 3^k) mod 3`` for
``k = 0..n-1`` (position 0 least significant), trit ``t_k = d_k - 1``; the valuation ``v(i)``
is the number of leading (least-significant) zero digits and ``v(0) = n``. Tables are built
once per ``n`` (and device) and cached: treat the returned tensors as read-only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

#: The largest number of trits the tables are built for (3^14 = 4,782,969 operations).
MAX_TRITS = 14


def check_n_trits(n_trits: int, where: str = "n_trits") -> int:
    """Return ``n_trits`` if it lies in ``1..MAX_TRITS``, else raise a one-line ValueError."""
    if isinstance(n_trits, bool) or not isinstance(n_trits, int):
        raise ValueError(f"{where} must be an integer in 1..{MAX_TRITS}, got {n_trits!r}")
    if not 1 <= n_trits <= MAX_TRITS:
        raise ValueError(f"{where} must lie in 1..{MAX_TRITS}, got {n_trits}")
    return n_trits


def num_operations(n_trits: int) -> int:
    """N = 3^n, the number of operations on ``n_trits`` trits."""
    return int(3 ** check_n_trits(n_trits))


def n_trits_from_size(size: int, where: str = "input_dim") -> int:
    """The n with 3^n == ``size``; a ValueError naming ``where`` if ``size`` is no power of 3."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"{where} must be a power of 3 (3^n operations, n >= 1), got {size!r}")
    n, rest = 0, size
    while rest % 3 == 0:
        rest //= 3
        n += 1
    if rest != 1:
        raise ValueError(
            f"{where} must be a power of 3 (3^n operations), got {size}; "
            f"nearest: {3 ** max(1, round(math.log(size, 3)))}"
        )
    return check_n_trits(n, where=f"log3({where})")


def _powers(n_trits: int, device: torch.device | None = None) -> torch.Tensor:
    return 3 ** torch.arange(n_trits, dtype=torch.long, device=device)


def trits_from_index(index: torch.Tensor, n_trits: int) -> torch.Tensor:
    """Trits (..., n) in {-1, 0, +1} (int8) of integer indices, position 0 least significant."""
    index = torch.as_tensor(index, dtype=torch.long)
    digits = torch.div(index.unsqueeze(-1), _powers(n_trits, index.device), rounding_mode="floor")
    return (digits.remainder(3) - 1).to(torch.int8)


def index_from_trits(trits: torch.Tensor) -> torch.Tensor:
    """Integer indices (...) of trit vectors (..., n) with entries in {-1, 0, +1}."""
    trits = torch.as_tensor(trits)
    digits = trits.round().to(torch.long) + 1
    return (digits * _powers(trits.shape[-1], digits.device)).sum(-1)


@lru_cache(maxsize=16)
def all_trits(n_trits: int) -> torch.Tensor:
    """Every operation's trits, (N, n) int8 on the CPU, row i being operation i."""
    return trits_from_index(torch.arange(num_operations(n_trits)), n_trits)


@lru_cache(maxsize=16)
def _valuation_table_cpu(n_trits: int) -> torch.Tensor:
    size = num_operations(n_trits)
    table = torch.zeros(size, dtype=torch.long)
    idx = torch.arange(size)
    # v(i) counts the powers 3^k (k = 1..n) that divide i; v(0) = n falls out of the same rule.
    for k in range(1, n_trits + 1):
        table += (idx % (3**k) == 0).long()
    return table


_DEVICE_TABLES: dict[tuple[int, str], torch.Tensor] = {}


def valuation_table(n_trits: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The 3-adic valuation v(i) for i = 0..N-1 (long), with v(0) = n; cached per device."""
    table = _valuation_table_cpu(check_n_trits(n_trits))
    if device is None or torch.device(device).type == "cpu":
        return table
    key = (n_trits, str(torch.device(device)))
    if key not in _DEVICE_TABLES:
        _DEVICE_TABLES[key] = table.to(device)
    return _DEVICE_TABLES[key]


def valuation(index: torch.Tensor, n_trits: int) -> torch.Tensor:
    """v(i) of indices in 0..N-1 (any shape), by table lookup."""
    index = torch.as_tensor(index, dtype=torch.long)
    return valuation_table(n_trits, index.device)[index]


def pair_valuation(i: torch.Tensor, j: torch.Tensor, n_trits: int) -> torch.Tensor:
    """v(|i - j|): the number of equal low digits of i and j (n where i == j); broadcasts."""
    i = torch.as_tensor(i, dtype=torch.long)
    j = torch.as_tensor(j, dtype=torch.long)
    return valuation_table(n_trits, i.device)[(i - j).abs()]


def padic_distance(i: torch.Tensor, j: torch.Tensor, n_trits: int) -> torch.Tensor:
    """d_3(i, j) = 3^-v(|i - j|) for i != j and 0 for i == j (float64); broadcasts."""
    i = torch.as_tensor(i, dtype=torch.long)
    j = torch.as_tensor(j, dtype=torch.long)
    dist = torch.pow(3.0, -pair_valuation(i, j, n_trits).to(torch.float64))
    return torch.where(i == j, torch.zeros_like(dist), dist)


@lru_cache(maxsize=32)
def level_sizes(n_trits: int) -> tuple[int, ...]:
    """How many operations have valuation 0, 1, ..., n: 2 * 3^(n-1-k) for k < n, then 1."""
    n = check_n_trits(n_trits)
    return (*(2 * 3 ** (n - 1 - k) for k in range(n)), 1)


def spearman_ceiling_from_ties(tie_sizes: list[int] | tuple[int, ...]) -> float:
    """The largest |Spearman| between a variable with these tie groups and distinct values.

    ``sqrt(1 - sum t (t^2 - 1) / (M (M^2 - 1)))`` with ``M = sum t``.
    """
    sizes = [int(t) for t in tie_sizes if t > 0]
    m = sum(sizes)
    if m < 2:
        return float("nan")
    tied = sum(t * (t * t - 1) for t in sizes)
    return math.sqrt(max(0.0, 1.0 - tied / (m * (m * m - 1))))


@lru_cache(maxsize=32)
def hierarchy_ceiling(n_trits: int) -> float:
    """The best (most negative) hierarchy score over all N operations: -0.83205 for n = 9."""
    return -spearman_ceiling_from_ties(level_sizes(n_trits))
