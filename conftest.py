"""Settings for every test folder (tests/, plugins/*/tests, examples/*/tests)."""

import os

from hypothesis import settings

# The suite is deterministic: hypothesis draws the same examples on every run (derandomize)
# and replays none saved by an earlier one. HYPOTHESIS_PROFILE=explore searches afresh each run
# (and keeps what it finds in .hypothesis/), for hunting bugs rather than gating a change.
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
