"""Settings for every test folder (tests/, plugins/*/tests, examples/*/tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _entry_point_cache_in_a_temporary_folder(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """tvae remembers discovered entry points under ~/.cache; tests keep theirs to themselves."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVAE_CACHE_DIR", str(tmp_path_factory.mktemp("tvae-cache")))
        yield
