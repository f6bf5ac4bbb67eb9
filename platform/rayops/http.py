"""HTTP sessions that keep connections and retry, for the SDK and the alert webhooks.

:func:`session` returns a :class:`requests.Session` whose adapter keeps connections
alive across calls (one TCP handshake per host, not one per call) and retries
inside urllib3 (:class:`urllib3.util.Retry`):

* on connection errors, read errors and the answers in ``statuses``
  (default 500, 502, 503, 504), only for the HTTP ``methods`` given: a caller
  adds ``POST`` only when its POSTs are idempotent;
* after ``backoff_s``, then twice as long each time, at most ``backoff_max_s``
  (0.1 s: 0.2, 0.4, 0.8 s...), or as long as the answer's ``Retry-After`` says,
  capped at ``retry_after_max_s`` so a server cannot park a caller;
* the last answer of a failed series is returned, not raised, so the caller
  turns it into its own error.

Example:
    >>> http = session(retries=3, methods={"GET", "POST"})
    >>> http.get("http://127.0.0.1:8000/v2/health/ready", timeout=5)  # doctest: +SKIP
    <Response [200]>
    >>> http.close()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from urllib3.util import Retry

if TYPE_CHECKING:
    import requests
    from urllib3.response import BaseHTTPResponse

__all__ = ["RETRY_STATUS", "session"]

#: Answers worth another attempt of an idempotent call: 500 from Serve's proxy when the
#: replica died mid-request (another replica answers the retry), 502/503/504 while
#: replicas restart or the gateway is not ready (issue 14, replica kills under load).
RETRY_STATUS = frozenset({500, 502, 503, 504})
#: urllib3's own idempotent methods; POST is added by callers whose POSTs are.
IDEMPOTENT = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PUT", "TRACE"})


class _Retry(Retry):
    """urllib3's Retry with the waits described in the module docstring."""

    # urllib3 would also retry any 413/429/503 carrying Retry-After; only `statuses` do here
    # (a 413 stays too large however long one waits).
    RETRY_AFTER_STATUS_CODES: frozenset[int] = frozenset()

    def __init__(self, *args: Any, wait_cap: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait_cap = wait_cap

    def new(self, **kwargs: Any) -> _Retry:
        kwargs.setdefault("wait_cap", self.wait_cap)
        return super().new(**kwargs)  # type: ignore[return-value]

    def get_backoff_time(self) -> float:
        # urllib3 2 retries the first failure at once; a killed replica's requests are
        # better retried after a pause, as the SDK always did (0.2, 0.4, 0.8 s).
        n = len(self.history)
        return 0.0 if n == 0 else float(min(self.backoff_max, self.backoff_factor * 2**n))

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.wait_cap)


def session(
    *,
    retries: int,
    methods: Iterable[str] = IDEMPOTENT,
    statuses: Iterable[int] = RETRY_STATUS,
    backoff_s: float = 0.1,
    backoff_max_s: float = 2.0,
    retry_after_max_s: float = 10.0,
) -> requests.Session:
    """A session retrying ``retries`` times (see the module docstring); close it when done."""
    import requests
    from requests.adapters import HTTPAdapter

    retry = _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=frozenset(m.upper() for m in methods),
        status_forcelist=frozenset(statuses),
        backoff_factor=backoff_s,
        backoff_max=backoff_max_s,
        wait_cap=retry_after_max_s,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    http = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http
