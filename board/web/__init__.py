"""The board: a web dashboard over the engine's queues."""
