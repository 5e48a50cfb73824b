"""workers/doc_files.py: the local copies of documents a worker renders pages from.

Found in CI: two task threads read pages of one PDF at once, both fetched it, the second
replaced the first's file and unlinked it while the page renderer (another process, opening by
path) was about to read it: "page 2 cannot be rendered: No such file or directory".
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from shared.infra.blobs import BlobNotFound, LocalBlobStore
from shared.jobs.model import InputRef
from workers.doc_files import DocumentFiles


class CountingStore(LocalBlobStore):
    """The embedded store, counting whole-object reads."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "inputs")
        self.gets = 0

    def get(self, key: str, *, bucket: str | None = None, max_bytes: int | None = None) -> bytes:
        self.gets += 1
        return super().get(key, bucket=bucket, max_bytes=max_bytes)


def _doc(store: LocalBlobStore, name: str) -> tuple[InputRef, bytes]:
    data = f"%PDF-1.7 {name}".encode() * 100
    store.put(name, data)
    ref = InputRef(bucket="inputs", key=name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                   content_type="application/pdf", width=0, height=0)
    return ref, data


def test_threads_reading_one_document_at_once_share_one_fetch_and_one_file(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    ref, data = _doc(store, "a.pdf")
    files = DocumentFiles()
    inside = threading.Barrier(6, timeout=10)
    seen: list[tuple[str, bytes]] = []

    def page() -> None:
        with files.use(ref, store, 1 << 20) as path:
            inside.wait()  # all six inside at once, as pages of one document on a thread pool
            seen.append((path, Path(path).read_bytes()))
            inside.wait()

    threads = [threading.Thread(target=page) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(seen) == 6 and {p for p, _ in seen} == {seen[0][0]}
    assert all(body == data for _, body in seen)
    assert store.gets == 1
    files.close()
    assert not os.path.exists(seen[0][0])


def test_a_file_in_use_is_not_unlinked_when_newer_documents_push_it_out(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    files = DocumentFiles(keep=1)
    first, data = _doc(store, "first.pdf")
    others = [_doc(store, f"other{i}.pdf")[0] for i in range(3)]
    with files.use(first, store, 1 << 20) as held:
        for ref in others:
            with files.use(ref, store, 1 << 20):
                pass
        assert Path(held).read_bytes() == data  # still rendering from it
    with files.use(others[0], store, 1 << 20):
        pass
    assert not os.path.exists(held)  # gone once no page used it and it was over the limit
    files.close()


def test_a_missing_object_raises_and_leaves_no_entry(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    ref, _ = _doc(store, "there.pdf")
    gone = ref.model_copy(update={"key": "gone.pdf"})
    files = DocumentFiles()
    for _ in range(2):
        with pytest.raises(BlobNotFound), files.use(gone, store, 1 << 20):
            pass
    assert store.gets == 2  # a failed fetch is not remembered
    with files.use(ref, store, 1 << 20) as path:
        assert Path(path).exists()
    files.close()
