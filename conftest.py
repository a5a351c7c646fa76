"""Settings for every test folder (tests/, plugins/*/tests, examples/*/tests)."""
