"""Test-suite root: pytest puts this folder on sys.path, so tests import shared helpers
(``_cli.run_cli``) from here."""
