"""The control loop's lease: who may act, until when, and in which epoch.

The lease is one document, ``control/lease.json``, taken and renewed with
compare-and-swap and expiring ``duration_s`` after its last renewal. It carries an
**epoch**, a fencing token: whoever takes the lease over (after it expired, was
released, or from a process with the same holder name) gets the stored epoch plus
one, and renewals keep it. :meth:`Lease.verify` is the :class:`~rayops.storage.fenced.Fence`
that :class:`~rayops.storage.fenced.FencedStorage` asks before each write, so the
writes of a loop whose term ended are refused (see :mod:`rayops.storage.fenced`).

A renewal keeps the epoch even when the lease had just expired: the document still
names this holder and epoch, so nobody else held it in between.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> s = open_storage(tempfile.mkdtemp())
    >>> a, b = Lease(s, "a", 30.0), Lease(s, "b", 30.0)
    >>> a.acquire(), b.acquire(), a.epoch
    (True, False, 1)
    >>> a.acquire(), a.epoch  # a renewal keeps the epoch
    (True, 1)
    >>> a.release(); b.acquire(), b.epoch
    (True, 2)
    >>> a.verify()
    Traceback (most recent call last):
    ...
    rayops.errors.LeaseLostError: ...
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from rayops.clock import utc_now
from rayops.errors import ConflictError, LeaseLostError, NotFoundError
from rayops.storage.base import Storage, dumps

__all__ = ["LEASE_KEY", "Lease"]

LEASE_KEY = "control/lease.json"


class Lease:
    """A time-limited claim on the control loop, kept in storage with compare-and-swap.

    Args:
        storage: the storage root (the real one: the lease is what fences the rest).
        holder: this claimant's name.
        duration_s: how long a taken or renewed lease lasts.
        now: the clock; inject one in tests.
    """

    def __init__(
        self,
        storage: Storage,
        holder: str,
        duration_s: float,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.storage = storage
        self.holder = holder
        self.duration_s = duration_s
        self._now = now or utc_now
        #: The epoch of the term this object holds, or None when it holds none.
        self.epoch: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds a term (as of its last acquire or verify)."""
        return self.epoch is not None

    def _ours(self, doc: dict[str, Any] | None) -> bool:
        return (
            doc is not None
            and self.epoch is not None
            and doc.get("holder") == self.holder
            and doc.get("epoch", 0) == self.epoch
        )

    def acquire(self) -> bool:
        """Take or renew the lease; False while another holder's lease is unexpired."""
        now = self._now()
        try:
            current = self.storage.read_versioned(LEASE_KEY)
            doc, token = current.json(), current.token
        except NotFoundError:
            doc, token = None, None
        renewal = self._ours(doc)
        if doc is not None and not renewal and doc.get("holder") != self.holder:
            if datetime.fromisoformat(doc["expires_at"]) > now:
                self.epoch = None
                return False
        epoch = self.epoch if renewal else (doc or {}).get("epoch", 0) + 1
        new = {
            "holder": self.holder,
            "epoch": epoch,
            "acquired_at": doc["acquired_at"] if renewal and doc else now.isoformat(),
            "renewed_at": now.isoformat(),
            "expires_at": (now + timedelta(seconds=self.duration_s)).isoformat(),
        }
        try:
            self.storage.compare_and_swap(LEASE_KEY, dumps(new), token)
        except ConflictError:  # someone else took or renewed it meanwhile
            self.epoch = None
            return False
        self.epoch = epoch
        return True

    def verify(self) -> int:
        """This holder's epoch, after checking the stored lease is still its own and unexpired.

        One GET of the lease document. A failed check ends the term: later calls fail
        without reading, and only :meth:`acquire` starts a new one (with a new epoch).

        Raises:
            LeaseLostError: the lease expired, was released, or has a newer holder.
        """
        if self.epoch is None:
            raise LeaseLostError(
                f"Control loop {self.holder!r} does not hold the lease; it must not write."
            )
        try:
            doc: dict[str, Any] | None = self.storage.read_json(LEASE_KEY)
        except NotFoundError:
            doc = None
        why = None
        if doc is None:
            why = "the lease document is gone"
        elif not self._ours(doc):
            why = f"the lease is now held by {doc.get('holder')!r} (epoch {doc.get('epoch', 0)})"
        elif datetime.fromisoformat(doc["expires_at"]) <= self._now():
            why = f"the lease expired at {doc['expires_at']}"
        if why is not None:
            epoch, self.epoch = self.epoch, None
            raise LeaseLostError(
                f"Control loop {self.holder!r} lost its lease (epoch {epoch}): {why}; "
                "its write was refused so it cannot overwrite a newer loop's decisions."
            )
        return self.epoch

    def release(self) -> None:
        """Give the lease up at once (on a graceful stop), if this object holds it."""
        epoch, self.epoch = self.epoch, None
        try:
            current = self.storage.read_versioned(LEASE_KEY)
        except NotFoundError:
            return
        doc = current.json()
        if epoch is None or doc.get("holder") != self.holder or doc.get("epoch", 0) != epoch:
            return
        doc["expires_at"] = self._now().isoformat()
        try:
            self.storage.compare_and_swap(LEASE_KEY, dumps(doc), current.token)
        except ConflictError:
            pass

    def current(self) -> dict[str, Any] | None:
        """The stored lease document, or None."""
        try:
            doc: dict[str, Any] = self.storage.read_json(LEASE_KEY)
        except NotFoundError:
            return None
        return doc
