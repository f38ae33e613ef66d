"""A TCP proxy in front of a real Redis that loses the reply to one chosen request.

It forwards bytes both ways, in threads (so blocking and asyncio clients can both use it). Once armed
with ``cut_reply_to(marker)``, the next request containing ``marker`` still reaches Redis, which
carries it out, but its reply is thrown away and the client's connection is closed: the network
failing between Redis doing the work and the client hearing about it, which no client-side trick can
tell apart from Redis having done nothing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.cut = False

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class CuttingProxy:
    def __init__(self, redis_port: int) -> None:
        self.target = ("127.0.0.1", redis_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cuts = 0
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cut_reply_to(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            pair = _Pair(client, socket.create_connection(self.target))
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._up, args=(pair,), daemon=True).start()
            threading.Thread(target=self._down, args=(pair,), daemon=True).start()

    def _up(self, pair: _Pair) -> None:
        with contextlib.suppress(OSError):
            while data := pair.client.recv(65536):
                with self._lock:
                    # Marked before the request goes on, so the reply cannot come back first.
                    if self._marker is not None and self._marker in data:
                        self._marker = None
                        pair.cut = True
                pair.server.sendall(data)
        pair.close()

    def _down(self, pair: _Pair) -> None:
        with contextlib.suppress(OSError):
            while data := pair.server.recv(65536):
                if pair.cut:
                    with self._lock:
                        self.cuts += 1
                    break
                pair.client.sendall(data)
        pair.close()

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
