"""moto's standalone S3 server, with S3's atomic conditional writes.

moto checks ``If-None-Match`` / ``If-Match`` and then stores the object in two
steps, on a threaded HTTP server, so two concurrent conditional PUTs of one key
can both succeed (seen in CI: 2 of 16 racing ``put_if_absent`` writers won).
AWS S3, MinIO and the other servers rayops supports decide a conditional write
atomically; this wrapper gives moto the same guarantee by serialising its
``PutObject`` handler behind one lock. Everything else is moto's own code,
served over real HTTP by ``moto.server.main``.

Run as a script: ``python moto_atomic.py -H 127.0.0.1 -p PORT`` (moto's arguments).
"""

from __future__ import annotations

import threading
from typing import Any

from moto import server
from moto.s3.responses import S3Response

_lock = threading.Lock()
_put_object = S3Response.put_object


def _atomic_put_object(self: S3Response) -> Any:
    with _lock:
        return _put_object(self)


S3Response.put_object = _atomic_put_object  # type: ignore[method-assign]

if __name__ == "__main__":
    server.main()
