"""The gateway's one bearer-token check, shared by the API and the dashboard.

With ``RAYOPS_API_TOKEN`` set, a request must carry ``Authorization: Bearer
<token>`` (the dashboard also accepts the token from its cookie). Tokens are
compared in constant time.

Example:
    >>> auth = BearerAuth("s3cret")
    >>> auth.matches("s3cret"), auth.matches("guess"), auth.matches(None)
    (True, False, False)
    >>> auth.header_ok("Bearer s3cret"), auth.header_ok("Basic s3cret")
    (True, False)
    >>> BearerAuth(None).header_ok("")  # no token configured: the network is trusted
    True
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from rayops.serving.errors import UnauthorizedError

__all__ = ["BearerAuth"]


class BearerAuth:
    """Checks bearer tokens against the configured API token (None: no check)."""

    def __init__(self, token: SecretStr | str | None) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._secret = secret.encode() if secret else None

    @property
    def required(self) -> bool:
        """Whether a token is configured."""
        return self._secret is not None

    def matches(self, value: str | None) -> bool:
        """Whether ``value`` is the configured token (False when there is none to match)."""
        if self._secret is None or value is None:
            return False
        return hmac.compare_digest(value.strip().encode(), self._secret)

    def header_ok(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value passes (always, without a token)."""
        if self._secret is None:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and self.matches(value)

    def require(self, authorization: str | None, what: str = "This gateway") -> None:
        """Raise :class:`UnauthorizedError` unless the header passes."""
        if not self.header_ok(authorization):
            raise UnauthorizedError(
                f"{what} needs 'Authorization: Bearer <token>' (RAYOPS_API_TOKEN)."
            )
