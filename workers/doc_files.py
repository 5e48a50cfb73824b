"""Documents a worker reads page by page, kept as local files while their pages come in.

Each page of a fanned-out document is its own message, so without this every page would fetch
the whole PDF again. A worker keeps the last few documents it read as temporary files, keyed by
content hash: an upload is content-addressed, and a by-reference input is re-read when its hash
(recorded at submit) is not the one cached.

A thread pool reads several pages of one document at once, and the page renderer is another
process that opens the file by path. So a document is fetched once however many threads ask for
it at the same time, and a file is only unlinked once no page is rendering from it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from shared.infra.blobs import BlobStore
from shared.jobs.model import InputRef

KEEP_FILES = 8  # documents whose pages this worker is likely still reading

_Key = tuple[str, str, str]


@dataclass
class _File:
    path: str = ""
    users: int = 0  # pages rendering from it now
    evicted: bool = False  # unlinked by the last user
    fetching: threading.Lock = field(default_factory=threading.Lock)


class DocumentFiles:
    def __init__(self, keep: int = KEEP_FILES) -> None:
        self.keep = keep
        self._files: OrderedDict[_Key, _File] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def use(self, ref: InputRef, blobs: BlobStore, max_bytes: int) -> Iterator[str]:
        """A local file with the document's bytes, valid inside the block (fetched once while it
        stays among the last few). Raises what `blobs.get` raises."""
        key = (ref.bucket, ref.key, ref.sha256)
        with self._lock:
            entry = self._files.get(key)
            if entry is None:
                entry = self._files[key] = _File()
            self._files.move_to_end(key)
            entry.users += 1
        try:
            with entry.fetching:  # one fetch per document; the other threads wait for its file
                if not entry.path or not os.path.exists(entry.path):
                    entry.path = self._fetch(ref, blobs, max_bytes)
            yield entry.path
        finally:
            self._release(key, entry)

    def _fetch(self, ref: InputRef, blobs: BlobStore, max_bytes: int) -> str:
        data = blobs.get(ref.key, bucket=ref.bucket, max_bytes=max_bytes)
        fd, path = tempfile.mkstemp(prefix="ocrq-doc-", suffix=".bin")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def _release(self, key: _Key, entry: _File) -> None:
        drop: list[str] = []
        with self._lock:
            entry.users -= 1
            if entry.evicted and entry.users == 0:
                drop.append(entry.path)
            for old_key in list(self._files):
                if len(self._files) <= self.keep:
                    break
                old = self._files[old_key]
                if old.users:
                    continue  # still rendering: evicted by its last user
                del self._files[old_key]
                drop.append(old.path)
            if entry.users == 0 and not entry.path and self._files.get(key) is entry:
                del self._files[key]  # its fetch failed: nothing to keep
        _unlink(drop)

    def close(self) -> None:
        with self._lock:
            drop = [f.path for f in self._files.values() if not f.users]
            for f in self._files.values():
                f.evicted = True
            self._files.clear()
        _unlink(drop)


def _unlink(paths: list[str]) -> None:
    for path in paths:
        if not path:
            continue
        try:
            os.unlink(path)
        except OSError:
            pass
