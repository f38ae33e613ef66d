"""Brute-force throttling of password checks, shared by the login form and HTTP Basic auth.

Failures are counted per user name and per client address. A name is locked after a few failures, so
that spreading a guessing run over many addresses does not help; an address after more, so that one
client cannot try many names. Names that do not exist are counted exactly like names that do: a 429
tells nothing about which names are real, and probing them costs the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["LoginThrottle", "Throttled"]


class Throttled(Exception):
    """Too many failed attempts: refuse for ``retry_after`` seconds (sent as ``Retry-After``)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after) + 1)
        super().__init__(f"Too many failed attempts; try again in {self.retry_after} s.")


class _Counter:
    """Failures per key within a window, and the keys locked out; bounded in memory."""

    def __init__(self, max_failures: int, window: float, lockout: float, max_keys: int) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_keys = max_keys
        self.failures: dict[str, list[float]] = {}
        self.locked: dict[str, float] = {}

    def retry_after(self, key: str, now: float) -> float:
        until = self.locked.get(key)
        if until is None:
            return 0.0
        if until <= now:
            del self.locked[key]
            return 0.0
        return until - now

    def failed(self, key: str, now: float) -> None:
        recent = [t for t in self.failures.pop(key, []) if t > now - self.window]
        recent.append(now)
        if len(recent) >= self.max_failures:
            self.locked[key] = now + self.lockout
        else:
            self.failures[key] = recent  # re-inserted last: the dict stays ordered by latest failure
        self._prune(now)

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)

    def _prune(self, now: float) -> None:
        if len(self.failures) > self.max_keys:
            self.failures = {k: v for k, v in self.failures.items() if v[-1] > now - self.window}
            while len(self.failures) > self.max_keys:
                del self.failures[next(iter(self.failures))]
        if len(self.locked) > self.max_keys:
            self.locked = {k: v for k, v in self.locked.items() if v > now}
            while len(self.locked) > self.max_keys:
                del self.locked[next(iter(self.locked))]


class LoginThrottle:
    """After ``max_failures`` failures of one name within ``window`` seconds, or ``max_address_failures``
    from one client address, refuse that name (or address) for ``lockout`` seconds.

    The flip side of counting by name is that anyone can lock a name out for ``lockout`` seconds. Kept in
    memory, for one process: behind several processes each keeps its own count.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        lockout: float = 60.0,
        *,
        max_address_failures: int = 20,
        clock: Callable[[], float] = time.monotonic,
        max_names: int = 10_000,
    ) -> None:
        if max_failures < 1 or max_address_failures < 1:
            raise ValueError("max_failures and max_address_failures must be at least 1")
        if window <= 0 or lockout <= 0:
            raise ValueError("window and lockout must be positive numbers of seconds")
        self.clock = clock
        self._names = _Counter(max_failures, window, lockout, max_names)
        self._addresses = _Counter(max_address_failures, window, lockout, max_names)

    @staticmethod
    def _key(name: str) -> str:
        # Names come from the client: a bound on their length bounds the memory held for them.
        return name[:256]

    def retry_after(self, name: str, address: str | None = None) -> float:
        """Seconds until ``name`` (from ``address``) may try again; 0 if it may now."""
        now = self.clock()
        wait = self._names.retry_after(self._key(name), now)
        if address is not None:
            wait = max(wait, self._addresses.retry_after(self._key(address), now))
        return wait

    def check(self, name: str, address: str | None = None) -> None:
        """Raises ``Throttled`` while ``name`` or ``address`` is locked out."""
        wait = self.retry_after(name, address)
        if wait:
            raise Throttled(wait)

    def failed(self, name: str, address: str | None = None) -> None:
        now = self.clock()
        self._names.failed(self._key(name), now)
        if address is not None:
            self._addresses.failed(self._key(address), now)

    def succeeded(self, name: str, address: str | None = None) -> None:
        # The address keeps its count: one valid account must not reset a run of guesses at other names.
        self._names.clear(self._key(name))
