# syntax=docker/dockerfile:1
#
# board: the dashboard (`board serve`, the default) or a worker (`board worker module:function --queue q`).
#
#   docker build -t board .
#
# The dashboard listens on 0.0.0.0:8000 in the container, and `board serve` refuses a non-loopback address
# without auth. Give it users (name:password:role, ';' between users; roles viewer, operator, admin):
#
#   docker run --rm -p 8000:8000 \
#       -e REDIS_URL=redis://redis.example.internal:6379/0 \
#       -e BOARD_AUTH=basic -e BOARD_USERS='alice:pw:admin' \
#       board
#
# - Keep passwords out of `docker inspect`: mount a file and set BOARD_USERS_FILE=/run/secrets/board_users
#   (a password may be a board.hash_password() hash).
# - A login page instead of Basic auth: BOARD_AUTH=form and BOARD_SECRET_KEY (or BOARD_SECRET_KEY_FILE).
# - Behind a proxy that authenticates users (oauth2-proxy, ...): BOARD_AUTH=header, BOARD_TRUSTED_PROXIES.
# - Something else in front guards it: -e BOARD_ALLOW_NO_AUTH=1 serves without auth (everyone is an admin).
# - Under a path: BOARD_BASE_PATH=/admin/queues (the health check follows it). Other settings: `board serve -h`.
#
# A worker from the same image, with your code in a derived image or mounted (the health check pings the
# dashboard, so turn it off for workers):
#
#   docker run --rm --no-healthcheck -e REDIS_URL=... -v "$PWD/app:/app/app:ro" board \
#       worker app.jobs:process --queue email --concurrency 10

ARG PYTHON_VERSION=3.11

# Builder: wheels for board-queues and every dependency (all of them ship binary wheels: no compiler needed).
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY board ./board
COPY templates ./templates
COPY static ./static
RUN pip wheel --wheel-dir /wheels .

# Final: installed from those wheels only, run as an unprivileged user.
FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# The wheels are bind-mounted for this one step (BuildKit), so they take no room in the image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels board-queues \
    && groupadd --gid 10001 board \
    && useradd --uid 10001 --gid board --create-home --home-dir /app --shell /usr/sbin/nologin board
WORKDIR /app
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
ENV BOARD_HOST=0.0.0.0 BOARD_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["board", "health"]
ENTRYPOINT ["board"]
CMD ["serve"]
