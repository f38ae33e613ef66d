"""A processor module that cannot be imported, as when a dependency is missing."""

raise ImportError("No module named 'imaginary_sdk' (tests.cli_fixtures.broken fails to import on purpose)")
