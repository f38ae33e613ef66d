"""Modules that ``board worker`` imports in tests/test_cli.py (run from the repository root)."""
