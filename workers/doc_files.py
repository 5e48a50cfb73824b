"""Documents a worker reads page by page, kept as local files while their pages come in.

Each page of a fanned-out document is its own message, so without this every page would fetch
the whole PDF again. A worker keeps the last few documents it read as temporary files, keyed by
content hash: an upload is content-addressed, and a by-reference input is re-read when its hash
(recorded at submit) is not the one cached.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict

from shared.blobs import BlobStore
from shared.jobs.model import InputRef

KEEP_FILES = 8  # documents whose pages this worker is likely still reading


class DocumentFiles:
    def __init__(self, keep: int = KEEP_FILES) -> None:
        self.keep = keep
        self._files: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()  # the threads pool runs several pages at once

    def path(self, ref: InputRef, blobs: BlobStore, max_bytes: int) -> str:
        """A local file with the document's bytes (fetched once while it stays among the last few)."""
        key = (ref.bucket, ref.key, ref.sha256)
        with self._lock:
            if key in self._files and os.path.exists(self._files[key]):
                self._files.move_to_end(key)
                return self._files[key]
        data = blobs.get(ref.key, bucket=ref.bucket, max_bytes=max_bytes)
        fd, path = tempfile.mkstemp(prefix="ocrq-doc-", suffix=".bin")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        del data
        with self._lock:
            old = self._files.get(key)
            self._files[key] = path
            self._files.move_to_end(key)
            drop = [old] if old and old != path else []
            while len(self._files) > self.keep:
                drop.append(self._files.popitem(last=False)[1])
        for stale in drop:
            # A page still rendering from an evicted file keeps its open handle; unlinking is safe.
            try:
                os.unlink(stale)
            except OSError:
                pass
        return path

    def close(self) -> None:
        with self._lock:
            paths = list(self._files.values())
            self._files.clear()
        for p in paths:
            try:
                os.unlink(p)
            except OSError:
                pass
