"""Who is signing in: local accounts with argon2 hashes, and throttling of failed attempts.

The account list is the `Accounts` port (the store's users and roles). A failed sign-in costs
the same whether or not the user name exists, and says the same thing, so sign-in does not
reveal who has an account.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal_extensions.casework.ports import Accounts
from portal_extensions.store.accounts import Account

_hasher = PasswordHasher()
_MAX_TRACKED = 10_000
_DUMMY_HASH = _hasher.hash("caseload: equalises the cost of unknown user names")


def check_password(accounts: Accounts, username: str, password: str) -> Account | None:
    """The account if the password is right; None otherwise, after the same amount of work."""
    account = accounts.by_username(username)
    stored = account.password_hash if account and account.active else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return account if stored else None


class SignInThrottle:
    """Counts failed sign-ins per user name and per address in a sliding window.

    Once either count reaches its limit, further attempts are refused without checking the
    password until the oldest failure leaves the window. In memory, per process: a deployment
    with several workers multiplies the limits by the number of workers.
    """

    def __init__(
        self,
        per_username: int,
        per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": per_username, "address": per_address}
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("user", username.strip().casefold()), ("address", address)]

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        return failures

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(username, address):
                failures = self._prune(key, now)
                if len(failures) >= self._limits[key[0]]:
                    wait = max(wait, failures[0] + self._window - now)
        return wait

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > _MAX_TRACKED:
                self._forget_expired(now)
            for key in self._keys(username, address):
                self._prune(key, now).append(now)

    def _forget_expired(self, now: float) -> None:
        """Drop keys with no failure in the window, so sprayed user names cannot fill memory."""
        for key in list(self._failures):
            if not self._prune(key, now):
                del self._failures[key]

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("user", username.strip().casefold()), None)
