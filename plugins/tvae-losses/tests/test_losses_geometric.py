"""Geometric losses: known values, gradients (points and curvature), targets, sampling."""

from __future__ import annotations

import math

import pytest
import torch
from tvae_losses.geometric import Geodesic, PadicIsosceles, PadicRanking, Radial
from tvae_ternary.data import ternary_tensors
from tvae_ternary.geometry import distance, expmap0, radius
from tvae_ternary.space import perfect_embedding, valuation_table


def _outputs(z: torch.Tensor, c: float | torch.Tensor = 1.0) -> dict[str, torch.Tensor]:
    return {"z_mean": z, "z": z, "curvature": torch.as_tensor(c)}


def _shells(batch: dict[str, torch.Tensor], max_radius: float, ratio: float) -> torch.Tensor:
    rho = max_radius * ratio ** batch["valuation"].double()
    gen = torch.Generator().manual_seed(0)
    direction = torch.randn(len(rho), 4, generator=gen, dtype=torch.float64)
    return expmap0(direction / direction.norm(dim=-1, keepdim=True) * rho.unsqueeze(1) / 2)


def test_radial_is_zero_on_its_targets_and_known_elsewhere() -> None:
    batch = ternary_tensors(4)
    loss = Radial(max_radius=1.5, ratio=0.5)
    assert float(loss(_outputs(_shells(batch, 1.5, 0.5)), batch)) == pytest.approx(0.0, abs=1e-12)
    z = torch.zeros(81, 4, dtype=torch.float64)
    expected = float((loss.target(batch["valuation"]).double() ** 2).mean())
    assert float(loss(_outputs(z), batch)) == pytest.approx(expected, rel=1e-5)


def test_radial_gradient_pushes_toward_the_shell() -> None:
    batch = {"valuation": torch.tensor([0, 3])}
    z = expmap0(torch.tensor([[0.2, 0.0], [0.5, 0.0]])).requires_grad_(True)
    Radial(max_radius=1.5, ratio=0.5)(_outputs(z), batch).backward()
    assert z.grad is not None
    assert z.grad[0, 0] < 0  # radius 0.4 < 1.5: grow
    assert z.grad[1, 0] > 0  # radius 1.0 > 0.1875: shrink


def test_radial_targets_hyperbolic_not_euclidean_radius() -> None:
    loss = Radial(max_radius=3.0, ratio=0.5)
    z = expmap0(torch.tensor([[1.5, 0.0]], dtype=torch.float64))  # rho = 3, |z| = tanh(1.5)
    assert float(radius(z)) == pytest.approx(3.0)
    assert float(loss(_outputs(z), {"valuation": torch.tensor([0])})) == pytest.approx(
        0.0, abs=1e-12
    )


def test_padic_ranking_zero_when_ordered_with_margin() -> None:
    batch = ternary_tensors(3)
    torch.manual_seed(0)
    # Digit 0 at scale 1, digit 1 at 0.1, digit 2 at 0.01: any two sharing more low digits
    # are far closer than the margin of those sharing fewer.
    digits = batch["x"].double() + 1
    u = torch.stack([digits[:, 0] * 0.3, digits[:, 1] * 0.03, digits[:, 2] * 0.003], 1)
    loss = PadicRanking(margin=0.05)(_outputs(expmap0(u)), batch)
    assert float(loss) == 0.0


def test_padic_ranking_known_value_on_reversed_triplets() -> None:
    # Rows hold operations 0, 1, 3 (n = 4): v(|0-3|) = 1 > v(|0-1|) = v(|1-3|) = 0, so the
    # valid triplets are (0; closer 3, farther 1) and (3; closer 0, farther 1), both reversed
    # by placing 1 between 0 and 3. The loss is a mean of their two hinge values.
    batch = {"index": torch.tensor([0, 1, 3]), "x": torch.zeros(3, 4)}
    z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.3, 0.0]], dtype=torch.float64)
    hinge_0 = float(distance(z[0], z[2]) - distance(z[0], z[1])) + 0.1
    hinge_3 = float(distance(z[2], z[0]) - distance(z[2], z[1])) + 0.1
    torch.manual_seed(0)
    value = float(PadicRanking(margin=0.1, triplets_per_anchor=64)(_outputs(z), batch))
    assert min(hinge_0, hinge_3) < value < max(hinge_0, hinge_3)
    assert hinge_0 == pytest.approx(2 * (math.atanh(0.3) - math.atanh(0.1)) + 0.1)


@pytest.mark.parametrize("relative_margin", [False, True])
def test_padic_ranking_equals_its_definition_on_the_drawn_triplets(relative_margin: bool) -> None:
    """Each row anchors k triplets whose partners are row + offset (mod B), offsets drawn in
    1..B-1 from torch's generator; the loss is the mean hinge over triplets whose two
    valuations differ, with the 3-adically closer partner first."""
    batch = ternary_tensors(4, torch.randperm(81, generator=torch.Generator().manual_seed(3)))
    z = expmap0(0.4 * torch.randn(81, 3, generator=torch.Generator().manual_seed(4)))
    loss = PadicRanking(margin=0.2, triplets_per_anchor=5, relative_margin=relative_margin)
    torch.manual_seed(9)
    value = loss(_outputs(z), batch)
    torch.manual_seed(9)
    rows = torch.arange(81)
    partner = (rows + torch.randint(1, 81, (2, 5, 81))) % 81
    index = batch["index"]
    total, count = 0.0, 0
    for t in range(5):
        for r in range(81):
            p, q = int(partner[0, t, r]), int(partner[1, t, r])
            vp = valuation_table(4)[abs(int(index[r]) - int(index[p]))]
            vq = valuation_table(4)[abs(int(index[r]) - int(index[q]))]
            if vp == vq:
                continue
            near, far = (p, q) if vp > vq else (q, p)
            margin = 0.2 * 0.5 ** float(max(vp, vq)) if relative_margin else 0.2
            total += max(float(distance(z[r], z[near]) - distance(z[r], z[far])) + margin, 0.0)
            count += 1
    assert count > 100
    assert float(value) == pytest.approx(total / count, rel=1e-6)


def test_padic_ranking_gradients_reach_points_and_curvature() -> None:
    batch = ternary_tensors(4)
    torch.manual_seed(1)
    z = expmap0(0.3 * torch.randn(81, 3)).requires_grad_(True)
    c = torch.tensor(1.0, requires_grad=True)
    PadicRanking()(_outputs(z, c), batch).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert c.grad is not None and c.grad != 0


def test_padic_ranking_reads_the_chosen_points_and_is_seeded() -> None:
    batch = ternary_tensors(4)
    z = expmap0(0.3 * torch.randn(81, 3, generator=torch.Generator().manual_seed(2)))
    loss = PadicRanking(points="z")
    assert loss.requires == {"outputs.z", "batch.index", "batch.x"}
    torch.manual_seed(5)
    a = loss({"z": z}, batch)
    torch.manual_seed(5)
    assert torch.equal(a, loss({"z": z}, batch))


def test_padic_ranking_tiny_batch_is_zero_with_graph() -> None:
    z = torch.zeros(2, 3, requires_grad=True)
    value = PadicRanking()({"z_mean": z}, {"index": torch.tensor([0, 1]), "x": torch.zeros(2, 3)})
    value.backward()
    assert float(value.detach()) == 0.0


def test_geodesic_zero_on_an_exact_ultrametric_embedding() -> None:
    # Operations 0, 1, 2 differ pairwise in the lowest digit: every target is R. An
    # equilateral triangle of side R (hyperbolic) centred at the origin meets them all.
    batch = {"index": torch.tensor([0, 1, 2]), "x": torch.zeros(3, 2)}
    angles = torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64) * torch.pi / 3
    tri = torch.stack([angles.cos(), angles.sin()], 1) * 0.2
    side = float(distance(tri[0], tri[1]))
    loss = Geodesic(max_radius=side, ratio=0.5, anchors=0)
    assert float(loss(_outputs(tri), batch)) == pytest.approx(0.0, abs=1e-12)
    assert float(Geodesic(max_radius=2 * side, anchors=0)(_outputs(tri), batch)) == pytest.approx(
        side**2
    )


def test_geodesic_anchors_subsample_and_gradients() -> None:
    batch = ternary_tensors(4)
    z = expmap0(
        0.3 * torch.randn(81, 3, generator=torch.Generator().manual_seed(0))
    ).requires_grad_(True)
    c = torch.tensor(1.0, requires_grad=True)
    full = Geodesic(anchors=0)(_outputs(z, c), batch)
    part = Geodesic(anchors=8)(_outputs(z, c), batch)
    assert full != part
    (full + Geodesic(log_space=True)(_outputs(z, c), batch)).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    assert c.grad is not None and c.grad != 0


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (Radial, {"ratio": 1.0}, "ratio"),
        (Radial, {"max_radius": 0.0}, "max_radius"),
        (Geodesic, {"anchors": -1}, "anchors"),
        (PadicRanking, {"margin": -0.1}, "margin"),
        (PadicRanking, {"triplets_per_anchor": 0}, "triplets_per_anchor"),
        (PadicIsosceles, {"tolerance": -0.1}, "tolerance"),
        (PadicIsosceles, {"pairs": 0}, "pairs"),
    ],
)
def test_bad_settings(factory: type, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


def test_radial_log_space_balanced_weights_every_level_alike() -> None:
    """Balanced: the mean over levels of each level's mean error, in log radii."""
    batch = ternary_tensors(3)
    term = Radial(max_radius=1.5, ratio=0.5, log_space=True, balanced=True)
    v = batch["valuation"]
    # Every point at twice its target radius (tangent norm = rho / 2): log error ln 2 each.
    target = term.target(v).double()
    direction = torch.nn.functional.normalize(torch.randn(27, 4, dtype=torch.float64), dim=-1)
    z = expmap0(direction * target.unsqueeze(-1))  # rho = 2 * |u| = 2 * target
    got = term({"z_mean": z, "curvature": torch.tensor(1.0)}, batch)
    assert float(got) == pytest.approx(math.log(2.0) ** 2, rel=1e-5)
    # Only the one operation of level 3 off its shell: balanced weighs it 1/4, not 1/27.
    on = expmap0(direction * (target / 2).unsqueeze(-1))
    off = on.clone()
    off[0] = expmap0(direction[0] * target[0])
    out = {"z_mean": off, "curvature": torch.tensor(1.0)}
    assert float(term(out, batch)) == pytest.approx(math.log(2.0) ** 2 / 4, rel=1e-4)
    plain = Radial(max_radius=1.5, ratio=0.5, log_space=True)
    assert float(plain(out, batch)) == pytest.approx(math.log(2.0) ** 2 / 27, rel=1e-4)


def test_padic_ranking_closest_comparisons_on_log_distances() -> None:
    """Zero on the tree embedding (log gap ln 4 > margin at every depth), positive reversed."""
    n = 5
    batch = ternary_tensors(n)
    z = perfect_embedding(n)  # TERNARY.md's construction, ratio 1/4
    term = PadicRanking(margin=0.2, triplets_per_anchor=2, closest=4, log_distance=True)
    torch.manual_seed(0)
    assert float(term(_outputs(z), batch)) == 0.0
    # The closest comparisons alone: p at depth k, q at k - 1, drawn from the batch.
    p, q, ok, k = term._closest_pairs(batch["index"], n)
    index = batch["index"]
    v = valuation_table(n)
    assert bool(ok.all())
    assert bool((v[(index[p] - index).abs()] == k).all())
    assert bool((v[(index[q] - index).abs()] == k - 1).all())
    # A margin no embedding at ratio 1/4 meets (log gap ln 4 ~ 1.39 < 2) makes it positive.
    strict = PadicRanking(margin=2.0, triplets_per_anchor=2, closest=4, log_distance=True)
    assert float(strict(_outputs(z), batch)) > 0.0
    with pytest.raises(ValueError, match="closest"):
        PadicRanking(closest=-1)


def test_padic_ranking_closest_draws_only_depths_the_batch_can_compare() -> None:
    """An anchor compares depth k only where the batch holds rows at depths k and k - 1."""
    n = 5
    # Anchor 0 with partners at depths 4 (81), 3 (27) and 0 (1, 2): depth 4 and 1 have no
    # (k, k - 1) pair; only k = 4 (81 vs 27) is usable; a repeat of 0 is no partner.
    index = torch.tensor([0, 81, 27, 1, 0])
    batch = {"index": index, "x": torch.zeros(5, n)}
    term = PadicRanking(closest=6)
    torch.manual_seed(0)
    p, q, ok, k = term._closest_pairs(index, n)
    assert bool(ok[:, 0].all()) and bool((k[:, 0] == 4).all())
    assert bool((p[:, 0] == 1).all()) and bool((q[:, 0] == 2).all())
    assert float(term(_outputs(torch.zeros(5, 3, dtype=torch.float64) + 0.1), batch)) >= 0.0


def test_padic_ranking_balanced_is_the_mean_of_per_depth_means() -> None:
    """Balanced: every depth present weighs alike, however many comparisons it has."""
    n = 4
    batch = ternary_tensors(n)
    gen = torch.Generator().manual_seed(3)
    z = expmap0(0.3 * torch.randn(81, 4, generator=gen, dtype=torch.float64))
    kwargs = {"margin": 0.2, "triplets_per_anchor": 2, "closest": 2, "log_distance": True}
    plain = PadicRanking(**kwargs)  # type: ignore[arg-type]
    balanced = PadicRanking(balanced=True, **kwargs)  # type: ignore[arg-type]
    torch.manual_seed(5)
    got = float(balanced(_outputs(z), batch))
    # Recompute with the same draws: the hinges of the plain term grouped by depth.
    torch.manual_seed(5)
    captured: dict[str, torch.Tensor] = {}
    original = torch.nn.functional.relu

    def spy(x: torch.Tensor) -> torch.Tensor:
        captured["gap"] = x
        return original(x)

    torch.nn.functional.relu = spy  # type: ignore[assignment]
    try:
        plain_value = float(plain(_outputs(z), batch))
    finally:
        torch.nn.functional.relu = original  # type: ignore[assignment]
    assert plain_value > 0.0
    hinge = captured["gap"].clamp_min(0.0)
    # Redraw the comparisons to learn each one's depth and validity.
    torch.manual_seed(5)
    size = 81
    rows = torch.arange(size)
    pq = (rows + torch.randint(1, size, (2, 2, size))) % size
    v = valuation_table(n)[(batch["index"][pq] - batch["index"]).abs()]
    depth = torch.maximum(v[0], v[1]).flatten()
    valid = (v[0] != v[1]).flatten()
    _, _, cok, cdepth = plain._closest_pairs(batch["index"], n)
    depth = torch.cat([depth, cdepth.flatten()])
    valid = torch.cat([valid, cok.flatten()])
    h = hinge.flatten()
    means = [h[valid & (depth == d)].mean() for d in depth[valid].unique()]
    assert got == pytest.approx(float(torch.stack(means).mean()), rel=1e-9)
    assert got != pytest.approx(plain_value, rel=1e-6)


def test_padic_ranking_closest_pairs_draw_uniformly_among_the_exact_partners() -> None:
    """Every drawn p shares exactly k digits, q exactly k - 1; all candidates get drawn."""
    n = 4
    index = torch.arange(81)
    term = PadicRanking(closest=1)
    v = valuation_table(n)
    torch.manual_seed(1)
    seen: list[int] = []
    for _ in range(300):
        p, q, ok, k = term._closest_pairs(index, n)
        assert bool(ok.all())
        assert bool((v[(index[p[0]] - index).abs()] == k[0]).all())
        assert bool((v[(index[q[0]] - index).abs()] == k[0] - 1).all())
        if int(k[0, 0]) == 1:
            seen.append(int(p[0, 0]))
    # Operation 0's depth-1 partners (digit 0 equal, digit 1 not): the 18 of valuation 1.
    partners = {i for i in range(81) if int(v[i]) == 1}
    assert len(partners) == 18 and set(seen) <= partners
    assert len(seen) > 60 and len(set(seen)) >= 16


def test_padic_isosceles_draws_two_distinct_rows_at_one_3_adic_distance() -> None:
    n = 4
    batch = ternary_tensors(n)
    index = batch["index"]
    v = valuation_table(n)
    seen: set[int] = set()
    torch.manual_seed(0)
    z = torch.randn(81, 3, dtype=torch.float64) * 0.1
    captured: list[torch.Tensor] = []
    import tvae_losses.geometric as geometric

    real = geometric.rowwise_distance

    def spy(x: torch.Tensor, j: torch.Tensor, c: object = 1.0) -> torch.Tensor:
        captured.append(j)
        return real(x, j, c)  # type: ignore[arg-type]

    geometric.rowwise_distance = spy  # type: ignore[assignment]
    try:
        for _ in range(50):
            PadicIsosceles(pairs=2)(_outputs(z), batch)
    finally:
        geometric.rowwise_distance = real
    for j in captured:
        p, q = j[0], j[1]  # (pairs, B)
        assert bool((p != q).all())
        depth_p = v[(index[p] - index).abs()]
        assert torch.equal(depth_p, v[(index[q] - index).abs()])
        seen |= set(depth_p.flatten().tolist())
    assert seen == set(range(n))  # every depth 0..n-1 is drawn


def _triangles(n: int, ratio: float, on_a_line: int | None = None) -> torch.Tensor:
    """Digit k's three values at an equilateral triangle of side ratio^k in plane k (tangent
    vectors at the origin, mapped to the ball); digit ``on_a_line``'s on a line instead."""
    digits = ternary_tensors(n)["x"].double() + 1  # (N, n) digit values 0, 1, 2
    angles = torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64) * torch.pi / 3
    vertices = torch.stack([angles.cos(), angles.sin()], 1) / math.sqrt(3)  # side 1
    line = torch.tensor([[-0.5, 0.0], [0.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    parts = []
    for k in range(n):
        table = line if k == on_a_line else vertices
        parts.append(ratio**k * table[digits[:, k].long()])
    return expmap0(0.2 * torch.cat(parts, dim=1))


def test_padic_isosceles_is_zero_on_equilateral_digits_and_charges_a_line() -> None:
    n = 5
    batch = ternary_tensors(n)
    torch.manual_seed(0)
    # Orthogonal planes at ratio 0.5: one depth's distances spread by at most
    # 1 / sqrt(1 - 0.25) (log 0.14), inside the tolerance.
    assert float(PadicIsosceles(tolerance=0.3)(_outputs(_triangles(n, 0.5)), batch)) == 0.0
    # The deepest digit on a line: its ends twice as far apart as its neighbours (log 0.69).
    line = _triangles(n, 0.5, on_a_line=n - 1)
    assert float(PadicIsosceles(tolerance=0.3)(_outputs(line), batch)) > 0.0
    z = line.clone().requires_grad_(True)
    PadicIsosceles(tolerance=0.3)(_outputs(z), batch).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    # Only the rows whose deepest-digit comparison is charged move.
    assert 0 < int((z.grad.abs().sum(1) > 0).sum()) < len(z)


def _digit_planes(index: torch.Tensor, n: int, max_radius: float, ratio: float) -> torch.Tensor:
    """The construction with digit k at hyperbolic scale R * ratio^k in its own plane."""
    from tvae_ternary.space import digits_from_index

    d = digits_from_index(index, n).double()
    angle = 2 * math.pi * (d - 1) / 3
    scale = max_radius * ratio ** torch.arange(n, dtype=torch.float64) * (d > 0)
    u = torch.stack([angle.cos() * scale, angle.sin() * scale], -1).reshape(len(index), 2 * n)
    return expmap0(u / 2)  # hyperbolic radius = 2 |u| at c = 1


def test_radial_digits_target_is_the_construction_radius() -> None:
    """`target: digits` is zero on the construction, where `level` is not (issue 11)."""
    n = 4
    batch = ternary_tensors(n)
    z = _digit_planes(batch["index"], n, 1.0, 0.65)
    z[0, 0] = float(expmap0(torch.tensor([0.65**n / 2]))[0])  # operation 0 on its level's shell
    digits = Radial(max_radius=1.0, ratio=0.65, log_space=True, balanced=True, target="digits")
    level = Radial(max_radius=1.0, ratio=0.65, log_space=True, balanced=True)
    assert float(digits(_outputs(z), batch)) == pytest.approx(0.0, abs=1e-10)
    assert float(level(_outputs(z), batch)) > 1e-3
    # Operation 12 = digits (0, 1, 1, 0): sqrt(0.65^2 + 0.65^4), whatever its level's shell.
    got = digits.digits_target(torch.tensor([12, 0, 1]), n, 3)
    assert got.tolist() == pytest.approx([math.sqrt(0.65**2 + 0.65**4), 0.0, 1.0], rel=1e-6)
    # Operation 0 (every digit zero) keeps the level target of valuation n: a finite loss.
    assert math.isfinite(float(digits(_outputs(torch.zeros_like(z) + 1e-3), batch)))
    with pytest.raises(ValueError, match="target must be 'level' or 'digits'"):
        Radial(target="shell")  # type: ignore[arg-type]
