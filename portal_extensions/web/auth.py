"""Who is signing in: local accounts with argon2 hashes, throttling of failed attempts, and the
address a request came from.

The account list is the `Accounts` port (the store's users and roles). A failed sign-in costs
the same whether or not the user name exists, and says the same thing, so sign-in does not
reveal who has an account.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Request

from portal_extensions.casework.ports import Accounts, SignInFailures
from portal_extensions.config import PortalSettings
from portal_extensions.store.accounts import Account
from portal_extensions.store.sign_in_failures import Failures

_hasher = PasswordHasher()
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
    """Holds up repeated failed sign-ins to an account, with back-off, and no one else.

    Two counters per attempt: the account from this address (`per_pair` failures allowed) and
    the account from anywhere (`per_account`, for guessing spread over many addresses). Once a
    counter reaches its limit, the next attempt must wait `FIRST_WAIT_SECONDS`, doubling with
    each further failure up to `window`; while it waits, attempts are refused without checking
    the password. A counter is forgotten once no failure has come for twice the window (so a
    wait at its longest does not end in a fresh allowance), and signing in clears the
    account-and-address counter. There is no counter per address alone: behind the council's
    proxy everybody shares one address, and one person's typing must never lock out another
    account. Counters are the store's (`SignInFailures`), shared by every portal process, and
    named by an HMAC under the portal's secret, so the store holds no user name or address.
    """

    FIRST_WAIT_SECONDS = 30.0

    def __init__(
        self,
        counters: SignInFailures,
        settings: PortalSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._counters = counters
        self._per_pair = settings.failed_sign_in_limit
        self._per_account = settings.failed_sign_in_limit_per_account
        self._window = timedelta(seconds=settings.failed_sign_in_window_seconds)
        self._memory = 2 * self._window
        self._secret = settings.secret_key.get_secret_value().encode()
        self._clock = clock

    def _key(self, *parts: str) -> str:
        message = "\0".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        """The account's key and the account-from-this-address key."""
        name = username.strip().casefold()
        return self._key("account", name), self._key("pair", name, address)

    def _wait(self, failures: Failures | None, limit: int, now: datetime) -> float:
        if failures is None or failures.count < limit:
            return 0.0
        backoff = min(
            self.FIRST_WAIT_SECONDS * float(2 ** min(failures.count - limit, 20)),
            self._window.total_seconds(),
        )
        return max(0.0, (failures.last_at - now).total_seconds() + backoff)

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this account may be tried from this address; 0 when it may now."""
        now = self._clock()
        account, pair = self._keys(username, address)
        found = self._counters.recent([account, pair], now - self._memory)
        return max(
            self._wait(found.get(pair), self._per_pair, now),
            self._wait(found.get(account), self._per_account, now),
        )

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        self._counters.add(self._keys(username, address), now, now - self._memory)

    def succeeded(self, username: str, address: str) -> None:
        self._counters.clear(self._keys(username, address)[1])


def client_address(request: Request, settings: PortalSettings) -> str:
    """The address a request came from. Behind a proxy listed in `forwarded_for_proxies`, the
    nearest address in X-Forwarded-For that is not one of those proxies (anything further left
    is the client's own say); from anyone else the header is ignored."""
    peer = request.client.host if request.client else "unknown"
    if not settings.is_forwarding_proxy(peer):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not settings.is_forwarding_proxy(hop):
            return hop
    return peer
