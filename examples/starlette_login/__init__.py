"""A Starlette app with the board behind FormLogin."""
