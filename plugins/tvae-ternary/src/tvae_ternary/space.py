"""The ternary space: index <-> trits, the 3-adic valuation table, level sizes, d_3.

One convention everywhere (TERNARY.md): digit ``d_k = floor(i / 3^k) mod 3`` for
``k = 0..n-1`` (position 0 least significant), trit ``t_k = d_k - 1``; the valuation ``v(i)``
is the number of leading (least-significant) zero digits and ``v(0) = n``. Tables are built
once per ``n`` (and device) and cached: treat the returned tensors as read-only.

The valuation helpers take a ``base`` (a prime p, 3 by default): the same convention in
base p (digit ``d_k = floor(i / p^k) mod p``, ``v(0) = n``, ``d_p(i, j) = p^-v(|i - j|)``),
for datasets of p-adic operations (docs/plugins: "Datasets of another base").
:func:`perfect_embedding` is TERNARY.md's construction that scores 1.0 on every metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

import torch

#: The largest number of trits the tables are built for (3^14 = 4,782,969 operations).
MAX_TRITS = 14
#: The most operations a valuation table holds, in any base (3^14).
MAX_OPERATIONS = 3**MAX_TRITS
#: An upper bound on any valuation the tables hold (2^22 < 3^14 < 2^23): size buckets by it.
MAX_VALUATION = 22


def check_n_trits(n_trits: int, where: str = "n_trits") -> int:
    """Return ``n_trits`` if it lies in ``1..MAX_TRITS``, else raise a one-line ValueError."""
    if isinstance(n_trits, bool) or not isinstance(n_trits, int):
        raise ValueError(f"{where} must be an integer in 1..{MAX_TRITS}, got {n_trits!r}")
    if not 1 <= n_trits <= MAX_TRITS:
        raise ValueError(f"{where} must lie in 1..{MAX_TRITS}, got {n_trits}")
    return n_trits


def check_base(base: int, where: str = "base") -> int:
    """Return ``base`` if it is a prime (2, 3, 5, ...), else raise a one-line ValueError."""
    if isinstance(base, bool) or not isinstance(base, int) or base < 2:
        raise ValueError(f"{where} must be a prime number (2, 3, 5, ...), got {base!r}")
    if any(base % f == 0 for f in range(2, math.isqrt(base) + 1)):
        raise ValueError(f"{where} must be a prime number (p-adic valuations), got {base}")
    return base


def max_digits(base: int = 3) -> int:
    """The most digits a table is built for in ``base``: base^n <= 3^14 (MAX_OPERATIONS)."""
    check_base(base)
    n = 0
    while base ** (n + 1) <= MAX_OPERATIONS:
        n += 1
    return n


def check_digits(n_digits: int, base: int = 3, where: str = "n_trits") -> int:
    """Return ``n_digits`` if ``base``^n_digits fits the tables (1..max_digits), else raise."""
    if base == 3:
        return check_n_trits(n_digits, where)
    top = max_digits(base)
    if isinstance(n_digits, bool) or not isinstance(n_digits, int) or not 1 <= n_digits <= top:
        raise ValueError(
            f"{where} must be an integer in 1..{top} for base {base}, got {n_digits!r}"
        )
    return n_digits


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


def _valuation_table_cpu(n_trits: int, base: int = 3) -> torch.Tensor:
    # A dict, not functools.lru_cache: torch.compile traces through an lru_cache'd call
    # (building the table inside every compiled step) but reads a dict's tensor as a constant.
    key = (n_trits, base)
    table = _CPU_TABLES.get(key)
    if table is None:
        table = _CPU_TABLES[key] = _build_valuation_table(n_trits, base)
    return table


def _build_valuation_table(n_trits: int, base: int) -> torch.Tensor:
    size = base**n_trits
    table = torch.zeros(size, dtype=torch.long)
    idx = torch.arange(size)
    # v(i) counts the powers p^k (k = 1..n) that divide i; v(0) = n falls out of the same rule.
    for k in range(1, n_trits + 1):
        table += (idx % (base**k) == 0).long()
    return table


_CPU_TABLES: dict[tuple[int, int], torch.Tensor] = {}
_DEVICE_TABLES: dict[tuple[int, int, str], torch.Tensor] = {}


def valuation_table(
    n_trits: int, device: torch.device | str | None = None, base: int = 3
) -> torch.Tensor:
    """The p-adic valuation v(i) for i = 0..p^n-1 (long), with v(0) = n; cached per device.

    ``base`` is the prime p (3: the ternary operations); ``n_trits`` the digits per operation.
    """
    check_base(base)
    table = _valuation_table_cpu(check_digits(n_trits, base), base)
    if device is None or torch.device(device).type == "cpu":
        return table
    key = (n_trits, base, str(torch.device(device)))
    if key not in _DEVICE_TABLES:
        _DEVICE_TABLES[key] = table.to(device)
    return _DEVICE_TABLES[key]


def valuation(index: torch.Tensor, n_trits: int, base: int = 3) -> torch.Tensor:
    """v(i) of indices in 0..p^n-1 (any shape), by table lookup."""
    index = torch.as_tensor(index, dtype=torch.long)
    return valuation_table(n_trits, index.device, base)[index]


def pair_valuation(i: torch.Tensor, j: torch.Tensor, n_trits: int, base: int = 3) -> torch.Tensor:
    """v(|i - j|): the number of equal low digits of i and j (n where i == j); broadcasts."""
    i = torch.as_tensor(i, dtype=torch.long)
    j = torch.as_tensor(j, dtype=torch.long)
    return valuation_table(n_trits, i.device, base)[(i - j).abs()]


def padic_distance(i: torch.Tensor, j: torch.Tensor, n_trits: int, base: int = 3) -> torch.Tensor:
    """d_p(i, j) = p^-v(|i - j|) for i != j and 0 for i == j (float64); broadcasts."""
    i = torch.as_tensor(i, dtype=torch.long)
    j = torch.as_tensor(j, dtype=torch.long)
    dist = torch.pow(float(base), -pair_valuation(i, j, n_trits, base).to(torch.float64))
    return torch.where(i == j, torch.zeros_like(dist), dist)


@lru_cache(maxsize=32)
def level_sizes(n_trits: int, base: int = 3) -> tuple[int, ...]:
    """How many operations have valuation 0, 1, ..., n: (p-1) * p^(n-1-k) for k < n, then 1."""
    n = check_digits(n_trits, check_base(base))
    return (*((base - 1) * base ** (n - 1 - k) for k in range(n)), 1)


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
def hierarchy_ceiling(n_trits: int, base: int = 3) -> float:
    """The best (most negative) hierarchy score over all N operations: -0.83205 for n = 9."""
    return -spearman_ceiling_from_ties(level_sizes(n_trits, base))


def digits_from_index(index: torch.Tensor, n_digits: int, base: int = 3) -> torch.Tensor:
    """Base-p digits (..., n) in 0..p-1 (long) of integer indices, position 0 least significant."""
    if not (isinstance(index, torch.Tensor) and index.dtype == torch.long):
        index = torch.as_tensor(index, dtype=torch.long)  # a long tensor as it is: no aten::to
    powers, _ = digit_powers(n_digits, base, index.device)
    return torch.div(index.unsqueeze(-1), powers, rounding_mode="floor").remainder_(base)


_POWERS: dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def digit_powers(
    n_digits: int, base: int = 3, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(base^k, base^(n - 1 - k)) for k = 0..n-1 (long), cached per device: read-only."""
    key = (n_digits, base, str(device))
    if key not in _POWERS:
        powers = base ** torch.arange(n_digits, dtype=torch.long, device=device)
        _POWERS[key] = (powers, powers.flip(0))
    return _POWERS[key]


def perfect_embedding(
    n_digits: int,
    base: int = 3,
    *,
    ratio: float = 0.25,
    max_radius: float = 1.0,
    curvature: float = 1.0,
) -> torch.Tensor:
    """TERNARY.md's construction: every operation on the ball, scoring 1.0 on every metric.

    Operation i sits at ``exp_0(sum_k ratio^k w_k(d_k))``, where ``d_k`` is its k-th digit in
    ``base`` and ``w_k`` places the digits of position k in that position's own plane
    (dimensions 2k, 2k+1): ``w_k(0) = 0`` and the digit d >= 1 at the unit vector of angle
    ``2 pi (d - 1) / p``. Leading zero digits add nothing, so the radius is ordered by
    valuation; distances are ordered by the first differing digit. The tangent vectors are
    scaled so that the largest hyperbolic radius is ``max_radius``.

    Args:
        n_digits: digits per operation n; the rows are operations 0..p^n-1, in index order.
        base: the prime p.
        ratio: scale of each position relative to the one below it; it must be small enough
            that position k dominates everything above it (< 1/sqrt(2) for p = 2 or 3, smaller
            for larger p, whose digits are closer together on their circle).
        max_radius: the largest hyperbolic radius of the embedding.
        curvature: c of the ball.

    Returns:
        (p^n, 2n) float64 points on the Poincaré ball of curvature ``curvature``.
    """
    from tvae_ternary.geometry import expmap0

    check_base(base)
    check_digits(n_digits, base, where="n_digits")
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must lie in (0, 1), got {ratio}")
    if not max_radius > 0 or not curvature > 0:
        raise ValueError(
            f"max_radius and curvature must be positive, got {max_radius} and {curvature}"
        )
    digits = digits_from_index(torch.arange(base**n_digits), n_digits, base)
    angles = 2 * math.pi * torch.arange(base - 1, dtype=torch.float64) / base
    plane = torch.cat(
        [torch.zeros(1, 2, dtype=torch.float64), torch.stack([angles.cos(), angles.sin()], 1)]
    )  # (p, 2): row d is w(d), row 0 the origin
    scales = ratio ** torch.arange(n_digits, dtype=torch.float64)
    u = (plane[digits] * scales[:, None]).reshape(len(digits), 2 * n_digits)
    # rho(exp_0(u)) = 2 |u| at c = 1, and 2 |u| as well for any c (exp_0 takes sqrt c inside).
    u = u * (max_radius / 2) / u.norm(dim=-1).max()
    return expmap0(u, curvature)


#: The batch column a dataset of another base fills with its prime (one entry per row).
BASE_KEY = "base"


def base_of(batch: Mapping[str, torch.Tensor], base: int | None = None) -> int:
    """The base p of a batch's operations: ``base`` if given, else its ``base`` column, else 3.

    Reading the column waits for the device once; losses keep the answer.
    """
    if base is not None:
        return check_base(base)
    column = batch.get(BASE_KEY)
    if column is None:
        return 3
    return check_base(int(column.reshape(-1)[0]), where=f"batch[{BASE_KEY!r}]")


def check_batch_valuations(
    batch: Mapping[str, torch.Tensor], n_digits: int, base: int, where: str
) -> None:
    """Raise a one-line ValueError if the batch's ``valuation`` is not the p-adic one of ``index``.

    Catches a dataset of another base read with base 3 (and an index out of the space).
    """
    index, v = batch.get("index"), batch.get("valuation")
    if index is None or v is None or index.numel() == 0:
        return
    index = index.detach().long()
    size = base**n_digits
    if int(index.min()) < 0 or int(index.max()) >= size:
        ok = False
    else:
        expected = valuation_table(n_digits, index.device, base)[index]
        ok = bool((expected == v.detach().to(expected.device).long()).all())
    if not ok:
        raise ValueError(
            f"{where}: batch['valuation'] is not the {base}-adic valuation of batch['index'] "
            f"on {n_digits} digits; a dataset of another base gives its batches a "
            f"{BASE_KEY!r} column (its prime, one per row) or set {where}'s base"
        )
