"""FastAPI signup that enqueues a welcome email; the board behind the app's own admin session."""
