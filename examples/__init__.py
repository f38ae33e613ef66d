"""Runnable examples of board in a web app and in worker processes; see examples/README.md."""
