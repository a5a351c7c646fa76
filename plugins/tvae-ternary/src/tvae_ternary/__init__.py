"""tvae-ternary: the 3^n ternary operations, ``TernaryVAE`` and the 3-adic metrics.

The space helpers (``tvae_ternary.space``) are the one source of truth for the index/trit
convention and the valuation table; ``tvae_ternary.geometry`` holds the closed-form
Poincaré-ball formulas that losses and metrics use. Names needing torch load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "TernaryVAE": "tvae_ternary.model",
    "TernaryOpsDataset": "tvae_ternary.data",
    "MAX_TRITS": "tvae_ternary.space",
    "all_trits": "tvae_ternary.space",
    "check_n_trits": "tvae_ternary.space",
    "hierarchy_ceiling": "tvae_ternary.space",
    "index_from_trits": "tvae_ternary.space",
    "level_sizes": "tvae_ternary.space",
    "n_trits_from_size": "tvae_ternary.space",
    "num_operations": "tvae_ternary.space",
    "padic_distance": "tvae_ternary.space",
    "pair_valuation": "tvae_ternary.space",
    "perfect_embedding": "tvae_ternary.space",
    "spearman_ceiling_from_ties": "tvae_ternary.space",
    "trits_from_index": "tvae_ternary.space",
    "valuation": "tvae_ternary.space",
    "valuation_table": "tvae_ternary.space",
    "coverage": "tvae_ternary.metrics",
    "hierarchy": "tvae_ternary.metrics",
    "radial_accuracy": "tvae_ternary.metrics",
    "triplet_accuracy": "tvae_ternary.metrics",
    "sample_triplets": "tvae_ternary.metrics",
    "Coverage": "tvae_ternary.metrics",
    "Hierarchy": "tvae_ternary.metrics",
    "RadialAccuracy": "tvae_ternary.metrics",
    "TripletAccuracy": "tvae_ternary.metrics",
}

__all__ = [
    "MAX_TRITS",
    "Coverage",
    "Hierarchy",
    "RadialAccuracy",
    "TernaryOpsDataset",
    "TernaryVAE",
    "TripletAccuracy",
    "__version__",
    "all_trits",
    "check_n_trits",
    "coverage",
    "hierarchy",
    "hierarchy_ceiling",
    "index_from_trits",
    "level_sizes",
    "n_trits_from_size",
    "num_operations",
    "padic_distance",
    "pair_valuation",
    "perfect_embedding",
    "radial_accuracy",
    "sample_triplets",
    "spearman_ceiling_from_ties",
    "triplet_accuracy",
    "trits_from_index",
    "valuation",
    "valuation_table",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from tvae_ternary.data import TernaryOpsDataset
    from tvae_ternary.metrics import (
        Coverage,
        Hierarchy,
        RadialAccuracy,
        TripletAccuracy,
        coverage,
        hierarchy,
        radial_accuracy,
        sample_triplets,
        triplet_accuracy,
    )
    from tvae_ternary.model import TernaryVAE
    from tvae_ternary.space import (
        MAX_TRITS,
        all_trits,
        check_n_trits,
        hierarchy_ceiling,
        index_from_trits,
        level_sizes,
        n_trits_from_size,
        num_operations,
        padic_distance,
        pair_valuation,
        perfect_embedding,
        spearman_ceiling_from_ties,
        trits_from_index,
        valuation,
        valuation_table,
    )
