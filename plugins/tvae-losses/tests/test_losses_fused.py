"""The vectorised ranking and isosceles draws against the loops they replace (issue 16, item 2).

``_reference`` holds the formulas as they were written before: one round of draws per
closest comparison or isosceles pair, each round its own ``torch.rand`` calls and gathers.
The vectorised terms must draw the same numbers from torch's generator (the same partners,
the same depths, and the generator left in the same state) and give the same loss values and
gradients.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from tvae_losses.geometric import (
    PadicIsosceles,
    PadicRanking,
    Radial,
    _curvature,
    _depth_blocks,
    _mean_per_group,
    _uniform_rows,
    _uniform_rows_one_by_one,
)
from tvae_ternary.data import ternary_tensors
from tvae_ternary.geometry import expmap0, radius, rowwise_distance
from tvae_ternary.sampling import pick_exactly, rank_other_than, tree_order
from tvae_ternary.space import MAX_VALUATION, valuation_table


class _reference:  # a namespace of the loops as they were
    @staticmethod
    def closest_pairs(
        term: PadicRanking, index: torch.Tensor, n: int, base: int = 3
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        size = index.numel()
        device = index.device
        order, lo, at_least, exactly = _depth_blocks(index, n, base)
        held = exactly > 0
        usable = held[:, 1:] & held[:, :-1]
        rows = torch.arange(size, device=device)

        def draw(d: torch.Tensor) -> torch.Tensor:
            u = torch.rand(size, device=device)
            pos, _ = pick_exactly(
                lo[rows, d], at_least[rows, d], lo[rows, d + 1], at_least[rows, d + 1], u
            )
            return order[pos.clamp(max=size - 1)]

        ps, qs, oks, ks = [], [], [], []
        for _ in range(term.closest):
            pick = torch.where(usable, torch.rand(usable.shape, device=device), -1.0)
            k = pick.argmax(dim=1) + 1
            ps.append(draw(k))
            qs.append(draw(k - 1))
            oks.append(usable.any(dim=1))
            ks.append(k)
        return torch.stack(ps), torch.stack(qs), torch.stack(oks), torch.stack(ks)

    @staticmethod
    def ranking(term: PadicRanking, outputs: dict, batch: dict) -> torch.Tensor:
        """PadicRanking.__call__ as it was (two wheres, four cats and a stack)."""
        z = outputs[term.points]
        index = batch["index"]
        n = batch["x"].shape[-1]
        size = z.shape[0]
        k = term.triplets_per_anchor
        rows = torch.arange(size, device=z.device)
        pq = (rows + torch.randint(1, size, (2, k, size), device=z.device)) % size
        v = valuation_table(n, index.device, 3)[(index[pq] - index).abs()]
        vp, vq = v[0], v[1]
        p_closer = vp > vq
        closer = torch.where(p_closer, pq[0], pq[1])
        farther = torch.where(p_closer, pq[1], pq[0])
        depth = torch.maximum(vp, vq)
        valid = vp != vq
        if term.closest > 0:
            cp, cq, cvalid, cdepth = _reference.closest_pairs(term, index, n)
            closer = torch.cat([closer, cp])
            farther = torch.cat([farther, cq])
            depth = torch.cat([depth, cdepth])
            valid = torch.cat([valid, cvalid])
        d = rowwise_distance(z, torch.stack([closer, farther]), _curvature(outputs))
        if term.log_distance:
            d = torch.log(d.clamp_min(1e-6))
        gap = d[0] - d[1]
        if term.relative_margin:
            gap = gap + term.margin * term.ratio ** depth.clamp(max=MAX_VALUATION).to(z.dtype)
        else:
            gap = gap + term.margin
        hinge = F.relu(gap)
        weight = valid.to(z.dtype)
        if not term.balanced:
            return (hinge * weight).sum() / weight.sum().clamp_min(1.0)
        return _reference_mean_per_group(hinge.flatten(), weight.flatten(), depth.flatten())

    @staticmethod
    def isosceles_pairs(
        term: PadicIsosceles, index: torch.Tensor, n: int, base: int = 3
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        size = index.numel()
        device = index.device
        order, lo, at_least, exactly = _depth_blocks(index, n, base)
        usable = exactly >= 2
        rows = torch.arange(size, device=device)
        ps: list[torch.Tensor] = []
        qs: list[torch.Tensor] = []
        ks: list[torch.Tensor] = []
        for _ in range(term.pairs):
            pick = torch.where(usable, torch.rand(usable.shape, device=device), -1.0)
            k = pick.argmax(dim=1)
            count = exactly[rows, k]
            j1 = (torch.rand(size, device=device) * count).long().clamp(max=count - 1).clamp_min(0)
            j2 = rank_other_than(torch.rand(size, device=device), count, j1)
            bounds = (lo[rows, k], at_least[rows, k], lo[rows, k + 1], at_least[rows, k + 1])
            for j, out in ((j1, ps), (j2, qs)):
                u = (j.to(torch.float64) + 0.5) / count.clamp_min(1).to(torch.float64)
                pos, _ = pick_exactly(*bounds, u)
                out.append(order[pos.clamp(max=size - 1)])
            ks.append(k)
        return torch.stack([torch.stack(ps), torch.stack(qs)]), torch.stack(ks), usable

    @staticmethod
    def isosceles(term: PadicIsosceles, outputs: dict, batch: dict) -> torch.Tensor:
        z = outputs[term.points]
        n = batch["x"].shape[-1]
        pair, depth, usable = _reference.isosceles_pairs(term, batch["index"], n)
        d = rowwise_distance(z, pair, _curvature(outputs))
        gap = (torch.log(d[0].clamp_min(1e-6)) - torch.log(d[1].clamp_min(1e-6))).abs()
        hinge = F.relu(gap - term.tolerance)
        weight = usable.any(dim=1).to(z.dtype).expand_as(hinge)
        if not term.balanced:
            return (hinge * weight).sum() / weight.sum().clamp_min(1.0)
        return _mean_per_group(hinge.flatten(), weight.flatten(), depth.flatten())


def _tree_batch(n: int = 6, size: int = 96, seed: int = 0) -> dict[str, torch.Tensor]:
    """A tree batch (every depth held, pairs at one distance) of the n-trit operations."""
    data = ternary_tensors(n)
    gen = torch.Generator().manual_seed(seed)
    rows = tree_order(
        data["index"],
        data["valuation"],
        n,
        steps=1,
        batch_size=size,
        level_rows=1,
        gen=gen,
        partners=2,
    )
    return {k: v[rows] for k, v in data.items()}


def _outputs(batch: dict[str, torch.Tensor], seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mu = (0.3 * torch.randn(len(batch["index"]), 8, generator=gen)).requires_grad_()
    c = torch.tensor(1.0, requires_grad=True)
    return {"z_mean": expmap0(mu, c), "mu": mu, "curvature": c}


def test_uniform_rows_are_the_calls_one_by_one() -> None:
    torch.manual_seed(3)
    widths = (7 * 5, 7, 7)
    one_by_one = [[torch.rand(w) for w in widths] for _ in range(4)]
    after = torch.get_rng_state()
    torch.manual_seed(3)
    rows = _uniform_rows(4, widths, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), after)
    for i, w in enumerate(widths):
        assert rows[i].shape == (4, w)
        assert torch.equal(rows[i], torch.stack([r[i] for r in one_by_one]))
    # The other devices' branch (one call per round and width) draws the same on the CPU.
    torch.manual_seed(3)
    for a, b in zip(rows, _uniform_rows_one_by_one(4, widths, torch.device("cpu")), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), after)


@pytest.mark.parametrize(("n", "closest"), [(6, 4), (5, 1), (9, 3)])
def test_closest_pairs_draw_what_the_loop_drew(n: int, closest: int) -> None:
    batch = _tree_batch(n, size=120)
    term = PadicRanking(closest=closest)
    torch.manual_seed(11)
    old = _reference.closest_pairs(term, batch["index"], n)
    after = torch.get_rng_state()
    torch.manual_seed(11)
    new = term._closest_pairs(batch["index"], n)
    assert torch.equal(torch.get_rng_state(), after)
    for a, b in zip(old, new, strict=True):
        assert a.shape == b.shape and torch.equal(a, b)


@pytest.mark.parametrize(("n", "pairs"), [(6, 4), (5, 1), (9, 2)])
def test_isosceles_pairs_draw_what_the_loop_drew(n: int, pairs: int) -> None:
    batch = _tree_batch(n, size=120)
    outputs = _outputs(batch)
    term = PadicIsosceles(tolerance=0.1, pairs=pairs)
    torch.manual_seed(5)
    old = _reference.isosceles(term, outputs, batch)
    (g_old_mu, g_old_c) = torch.autograd.grad(
        old, [outputs["mu"], outputs["curvature"]], retain_graph=True
    )
    after = torch.get_rng_state()
    torch.manual_seed(5)
    new = term(outputs, batch)
    (g_mu, g_c) = torch.autograd.grad(new, [outputs["mu"], outputs["curvature"]])
    assert torch.equal(torch.get_rng_state(), after)
    # The same pairs, distances and sums in the same order: equal to the bit.
    assert torch.equal(old, new)
    assert torch.equal(g_old_mu, g_mu) and torch.equal(g_old_c, g_c)


@pytest.mark.parametrize(
    ("balanced", "closest", "log_distance", "relative"),
    [
        (True, 4, True, False),
        (False, 4, True, False),
        (True, 0, False, True),
        (False, 2, False, True),
    ],
)
def test_padic_ranking_value_and_gradient_are_the_loops(
    balanced: bool, closest: int, log_distance: bool, relative: bool
) -> None:
    n = 7
    batch = _tree_batch(n, size=150)
    outputs = _outputs(batch)
    settings = dict(
        margin=0.2,
        closest=closest,
        log_distance=log_distance,
        balanced=balanced,
        relative_margin=relative,
        ratio=0.6,
    )
    term = PadicRanking(**settings)  # type: ignore[arg-type]
    torch.manual_seed(9)
    old = _reference.ranking(term, outputs, batch)
    g_old = torch.autograd.grad(old, [outputs["mu"], outputs["curvature"]], retain_graph=True)
    after = torch.get_rng_state()
    torch.manual_seed(9)
    new = term(outputs, batch)
    g_new = torch.autograd.grad(new, [outputs["mu"], outputs["curvature"]])
    assert torch.equal(torch.get_rng_state(), after)
    assert torch.equal(old, new)
    for a, b in zip(g_old, g_new, strict=True):
        assert torch.equal(a, b)


def _reference_mean_per_group(
    values: torch.Tensor, weight: torch.Tensor, group: torch.Tensor
) -> torch.Tensor:
    from tvae_ternary.space import MAX_VALUATION

    group = group.long().clamp(0, MAX_VALUATION)
    sums = torch.zeros(MAX_VALUATION + 1, dtype=values.dtype, device=values.device)
    counts = torch.zeros_like(sums)
    sums = sums.index_add(0, group, values * weight)
    counts = counts.index_add(0, group, weight)
    present = (counts > 0).to(values.dtype)
    return (sums / counts.clamp_min(1e-12)).sum() / present.sum().clamp_min(1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mean_per_group_is_the_two_scatters(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    for size, groups, masked in ((2000, 10, True), (37, 23, False), (5, 30, True), (1, 3, True)):
        values = torch.rand(size, generator=gen, dtype=dtype).requires_grad_()
        weight = torch.ones(size, dtype=dtype)
        if masked:
            weight = (torch.rand(size, generator=gen) > 0.3).to(dtype)
        group = torch.randint(groups, (size,), generator=gen)
        old = _reference_mean_per_group(values, weight, group)
        (g_old,) = torch.autograd.grad(old, values)
        new = _mean_per_group(values, weight, group)
        (g_new,) = torch.autograd.grad(new, values)
        assert torch.equal(old, new) and torch.equal(g_old, g_new)
    # Nothing present: 0, as before.
    zero = torch.zeros(4, dtype=dtype)
    assert _mean_per_group(zero + 1, zero, torch.arange(4)) == 0
    assert _reference_mean_per_group(zero + 1, zero, torch.arange(4)) == 0


def _reference_radial(term: Radial, outputs: dict, batch: dict) -> torch.Tensor:
    """Radial as it was: the digits target recomputed from each batch's indices."""
    z = outputs[term.points]
    rho = radius(z, _curvature(outputs))
    v = batch["valuation"]
    target = term.target(v)
    if term.target_kind == "digits":
        n = batch["x"].shape[-1]
        digits = term.digits_target(batch["index"], n, 3)
        target = torch.where(digits > 0, digits, target)
    target = target.to(rho.dtype)
    if term.log_space:
        err = (torch.log(rho.clamp_min(1e-6)) - torch.log(target)).pow(2)
    else:
        err = (rho - target).pow(2)
    if not term.balanced:
        return err.mean()
    return _reference_mean_per_group(err, torch.ones_like(err), v)


@pytest.mark.parametrize("n", [3, 6, 9])
@pytest.mark.parametrize(("log_space", "balanced"), [(True, True), (False, False)])
def test_radial_digits_table_is_the_batch_formula(n: int, log_space: bool, balanced: bool) -> None:
    term = Radial(
        max_radius=1.0, ratio=0.65, log_space=log_space, balanced=balanced, target="digits"
    )
    # Every operation's target: the table's sum over digits may round its last bit apart
    # from a batch's matrix-vector product (a different BLAS path), nothing more.
    index = torch.arange(3**n)
    table = term.digits_table(n, 3, index.device)
    digits = term.digits_target(index, n, 3)
    expected = torch.where(digits > 0, digits, term.target(valuation_table(n)))
    torch.testing.assert_close(table, expected, rtol=2.5e-7, atol=0.0)
    for seed in range(3):
        batch = _tree_batch(n, size=120, seed=seed)
        batch["index"][0] = 0  # operation 0: the level target of valuation n
        batch["valuation"][0] = n
        batch["x"][0] = -1.0
        outputs = _outputs(batch, seed)
        old = _reference_radial(term, outputs, batch)
        (g_old,) = torch.autograd.grad(old, outputs["mu"], retain_graph=True)
        new = term(outputs, batch)
        (g_new,) = torch.autograd.grad(new, outputs["mu"])
        torch.testing.assert_close(new, old, rtol=1e-6, atol=0.0)
        torch.testing.assert_close(g_new, g_old, rtol=1e-5, atol=1e-9)


def test_depth_blocks_are_kept_for_the_same_unmodified_index() -> None:
    from tvae_losses import geometric

    batch = _tree_batch(6, size=90)
    index = batch["index"].clone()
    first = _depth_blocks(index, 6, 3)
    assert _depth_blocks(index, 6, 3) is first  # the second term of a step
    fresh = geometric._compute_depth_blocks(index, 6, 3)
    for a, b in zip(first, fresh, strict=True):
        assert torch.equal(a, b)
    # Another n, an equal copy, or the same tensor modified in place: computed again.
    assert _depth_blocks(index, 7, 3) is not first
    other = index.clone()
    assert _depth_blocks(other, 6, 3) is not first
    again = _depth_blocks(other, 6, 3)
    other[:5] = other[5:10].clone()
    changed = _depth_blocks(other, 6, 3)
    assert changed is not again
    for a, b in zip(changed, geometric._compute_depth_blocks(other, 6, 3), strict=True):
        assert torch.equal(a, b)
    with torch.inference_mode():
        frozen = index.clone()
        assert torch.equal(_depth_blocks(frozen, 6, 3)[0], first[0])


def test_kl_and_reconstruction_with_cached_constants_are_the_float_formulas() -> None:
    """0.5 * (mu^2 + e^logvar - 1 - logvar) and ce * n as written with floats, to the bit."""
    from tvae_losses.vae import KL, Reconstruction

    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(64, 6, generator=gen).requires_grad_()
    logvar = (2 * torch.randn(64, 6, generator=gen)).requires_grad_()
    logits = torch.randn(64, 5, 3, generator=gen).requires_grad_()
    x = torch.randint(-1, 2, (64, 5), generator=gen).float()
    for free_bits in (0.0, 0.5):
        old = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(0)
        old = old.clamp_min(free_bits).sum() if free_bits > 0 else old.sum()
        new = KL(free_bits)({"mu": mu, "logvar": logvar}, {})
        assert torch.equal(old, new)
        g_old = torch.autograd.grad(old, [mu, logvar])
        g_new = torch.autograd.grad(new, [mu, logvar])
        for a, b in zip(g_old, g_new, strict=True):
            assert torch.equal(a, b)
    target = x.round().long() + 1
    old = F.cross_entropy(logits.transpose(-1, -2), target) * target.shape[-1]
    new = Reconstruction()({"logits": logits}, {"x": x})
    assert torch.equal(old, new)
    (g_old,) = torch.autograd.grad(old, logits)
    (g_new,) = torch.autograd.grad(new, logits)
    assert torch.equal(g_old, g_new)
