"""Brute-force throttling of password checks, shared by the login form and HTTP Basic auth.

Failures are counted per user name and per client address. A name is locked after a few failures, so
that spreading a guessing run over many addresses does not help; an address after more, so that one
client cannot try many names. Names that do not exist are counted exactly like names that do: a 429
tells nothing about which names are real, and probing them costs the same.

The board counts in Redis (its adapter's ``throttle_store()``), so that every process of a deployment
counts the same failures: four uvicorn workers or pods do not allow four times the attempts. When Redis
does not answer, each process counts in its own memory until it does (a warning is logged once, and Redis
is asked again every few seconds rather than on every attempt): a login page never fails for it and nobody
is locked out by it, and a guessing run is still held to the limits in each process. A lockout taken
meanwhile holds to its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ..adapters import ThrottleStore, ThrottleSubject

__all__ = ["LoginThrottle", "MemoryThrottleStore", "Throttled"]

log = logging.getLogger("board.web")
T = TypeVar("T")
# Names and addresses come from the client: a bound on their length bounds what is held for them.
MAX_SUBJECT = 256
# After the shared store failed, attempts are counted in memory for this long before it is asked again:
# each ask of a store that is down waits out the connection's retries (about a second).
STORE_RETRY_S = 5.0


class Throttled(Exception):
    """Too many failed attempts: refuse for ``retry_after`` seconds (sent as ``Retry-After``)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after) + 1)
        super().__init__(f"Too many failed attempts; try again in {self.retry_after} s.")


class _Counter:
    """Failures per key of one kind within a window, and the keys locked out; bounded in memory."""

    def __init__(self, max_keys: int) -> None:
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

    def failed(self, key: str, now: float, limit: int, window: float, lockout: float) -> None:
        if self.retry_after(key, now):
            return  # as in Redis: a failure while locked out neither lengthens the lockout nor counts
        recent = [t for t in self.failures.pop(key, []) if t > now - window]
        recent.append(now)
        if len(recent) >= limit:
            self.locked[key] = now + lockout
        else:
            self.failures[key] = recent  # re-inserted last: the dict stays ordered by latest failure
        self._prune(now, window)

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)

    def _prune(self, now: float, window: float) -> None:
        if len(self.failures) > self.max_keys:
            self.failures = {k: v for k, v in self.failures.items() if v[-1] > now - window}
            while len(self.failures) > self.max_keys:
                del self.failures[next(iter(self.failures))]
        if len(self.locked) > self.max_keys:
            self.locked = {k: v for k, v in self.locked.items() if v > now}
            while len(self.locked) > self.max_keys:
                del self.locked[next(iter(self.locked))]


class MemoryThrottleStore:
    """A ``ThrottleStore`` for one process, at most ``max_keys`` names and as many addresses: right for a
    single server, and what each process falls back on while Redis does not answer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.counters: dict[str, _Counter] = {}

    def _counter(self, kind: str) -> _Counter:
        counter = self.counters.get(kind)
        if counter is None:
            counter = self.counters[kind] = _Counter(self.max_keys)
        return counter

    async def locked_for(self, subjects: Sequence[ThrottleSubject]) -> float:
        now = self.clock()
        return max((self._counter(s.kind).retry_after(s.value, now) for s in subjects), default=0.0)

    async def failed(self, subjects: Sequence[ThrottleSubject], window_s: float, lockout_s: float) -> None:
        now = self.clock()
        for s in subjects:
            self._counter(s.kind).failed(s.value, now, s.limit, window_s, lockout_s)

    async def forget(self, subject: ThrottleSubject) -> None:
        self._counter(subject.kind).clear(subject.value)


class LoginThrottle:
    """After ``max_failures`` failures of one name within ``window`` seconds, or ``max_address_failures``
    from one client address, refuse that name (or address) for ``lockout`` seconds.

    ``store`` is where failures are counted; without one, the board puts its adapter's shared store (Redis)
    in place, and a throttle used elsewhere counts in memory (``clock`` and ``max_names`` are that memory
    count's). The flip side of counting by name is that anyone can lock a name out for ``lockout`` seconds.
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
        store: ThrottleStore | None = None,
    ) -> None:
        if max_failures < 1 or max_address_failures < 1:
            raise ValueError("max_failures and max_address_failures must be at least 1")
        if window <= 0 or lockout <= 0:
            raise ValueError("window and lockout must be positive numbers of seconds")
        self.max_failures = max_failures
        self.max_address_failures = max_address_failures
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self.local = MemoryThrottleStore(clock, max_names)
        self.store = store
        # The board puts its shared store in place of none, never in place of one it was given.
        self.store_given = store is not None
        self._failing_over = False
        self._ask_store_at = 0.0

    def _subjects(self, name: str, address: str | None) -> list[ThrottleSubject]:
        subjects = [ThrottleSubject("name", name[:MAX_SUBJECT], self.max_failures)]
        if address is not None:
            subjects.append(ThrottleSubject("address", address[:MAX_SUBJECT], self.max_address_failures))
        return subjects

    async def _shared(self, call: Callable[[ThrottleStore], Awaitable[T]]) -> tuple[bool, T | None]:
        """``call`` on the shared store: (True, its answer), or (False, None) when there is none or it fails."""
        if self.store is None or (self._failing_over and self.clock() < self._ask_store_at):
            return False, None
        try:
            answer = await call(self.store)
        except Exception as exc:
            self._ask_store_at = self.clock() + STORE_RETRY_S
            if not self._failing_over:
                self._failing_over = True
                log.warning(
                    "board: the login throttle cannot reach its store (%s): failed passwords are counted in "
                    "this process until it can",
                    exc,
                )
            return False, None
        if self._failing_over:
            self._failing_over = False
            log.info("board: the login throttle reaches its store again")
        return True, answer

    async def retry_after(self, name: str, address: str | None = None) -> float:
        """Seconds until ``name`` (from ``address``) may try again; 0 if it may now."""
        subjects = self._subjects(name, address)
        # The memory count holds only what was counted while the store was out, or everything without one.
        wait = await self.local.locked_for(subjects)
        _, shared = await self._shared(lambda store: store.locked_for(subjects))
        return max(wait, shared or 0.0)

    async def check(self, name: str, address: str | None = None) -> None:
        """Raises ``Throttled`` while ``name`` or ``address`` is locked out."""
        wait = await self.retry_after(name, address)
        if wait:
            raise Throttled(wait)

    async def failed(self, name: str, address: str | None = None) -> None:
        subjects = self._subjects(name, address)
        counted, _ = await self._shared(lambda store: store.failed(subjects, self.window, self.lockout))
        if not counted:
            await self.local.failed(subjects, self.window, self.lockout)

    async def succeeded(self, name: str, address: str | None = None) -> None:
        # The address keeps its count: one valid account must not reset a run of guesses at other names.
        subject = self._subjects(name, None)[0]
        await self.local.forget(subject)
        await self._shared(lambda store: store.forget(subject))
