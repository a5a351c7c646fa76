"""The seed guide's training loop, scheduling, clipping and checkpointing with RiemannianAdam."""

from __future__ import annotations

import io

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR
from tvae_geoopt import RiemannianAdam

from tvae_core import DEFAULT_GRAD_CLIP, LossRegistry
from tvae_core.testing import TinyKL, TinyReconstruction, TinyTernaryData, TinyVAE


def _setup() -> tuple[TinyVAE, TinyTernaryData, LossRegistry]:
    torch.manual_seed(0)
    model = TinyVAE(input_dim=27, latent_dim=2, hidden=16)
    data = TinyTernaryData(n_trits=3, batch_size=9)
    data.setup(device=torch.device("cpu"), seed=0)
    loss_registry = LossRegistry()
    loss_registry.add("reconstruction", TinyReconstruction(), 1.0)
    loss_registry.add("kl", TinyKL(), 0.01)
    return model, data, loss_registry


def test_seed_basic_training_loop_with_warmup_cosine_and_clipping():
    model, data, loss_registry = _setup()
    epochs = 12

    # Create optimizer (Riemannian for manifold params)
    optimizer = RiemannianAdam(model.parameters(), lr=3e-2)
    warmup = LinearLR(optimizer, start_factor=0.1, total_iters=3)
    main_scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    scheduler = SequentialLR(optimizer, schedulers=[warmup, main_scheduler], milestones=[3])

    first: float | None = None
    for _epoch in range(epochs):
        for batch in data.train_batches(_epoch):
            optimizer.zero_grad()

            outputs = model(batch)
            result = loss_registry.compose(outputs, batch)

            result.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=DEFAULT_GRAD_CLIP)
            optimizer.step()
            first = result.total.item() if first is None else first
        scheduler.step()
    assert first is not None and result.total.item() < 0.8 * first


def test_seed_checkpoint_save_and_load():
    model, data, loss_registry = _setup()
    optimizer = RiemannianAdam(model.parameters(), lr=1e-2)
    for batch in data.train_batches(0):
        optimizer.zero_grad()
        loss_registry.compose(model(batch), batch).total.backward()
        optimizer.step()

    buffer = io.BytesIO()
    # Save
    torch.save(
        {
            "epoch": 1,
            "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "config": {"optimizer": {"learning_rate": 1e-2}},
        },
        buffer,
    )
    buffer.seek(0)

    # Load (a fresh model and optimizer, as a resumed script has)
    fresh_model, _, _ = _setup()
    fresh_optimizer = RiemannianAdam(fresh_model.parameters(), lr=1e-2)
    checkpoint = torch.load(buffer, weights_only=True)
    fresh_model.load_state_dict(checkpoint["model_state_dict"])
    fresh_optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    start_epoch = checkpoint["epoch"]
    assert start_epoch == 1

    for m, opt in ((model, optimizer), (fresh_model, fresh_optimizer)):
        torch.manual_seed(1)  # the same sampling noise for both continuations
        for batch in data.train_batches(start_epoch):
            opt.zero_grad()
            loss_registry.compose(m(batch), batch).total.backward()
            opt.step()
    for p, q in zip(model.parameters(), fresh_model.parameters(), strict=True):
        assert torch.equal(p, q)
