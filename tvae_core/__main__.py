"""``python -m tvae_core`` is ``tvae`` (torchrun launches it this way)."""

from tvae_core.cli import main

main()
