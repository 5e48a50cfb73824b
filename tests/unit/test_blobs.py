"""One contract, two stores: the local folder and S3 (a real S3 server over HTTP)."""

import pytest

from shared.infra.blobs import BlobNotFound, LocalBlobStore, ObjectTooLarge
from shared.infra.s3_store import S3BlobStore


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path, "ocrq")
    s3 = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return S3BlobStore(s3.endpoint, s3.access_key, s3.secret_key, bucket, secure=False, region="us-east-1")


def test_put_get_stat_delete(store):
    store.put("a/b/c.txt", b"hello", "text/plain")
    assert store.get("a/b/c.txt") == b"hello"
    assert store.stat("a/b/c.txt").size == 5
    store.delete("a/b/c.txt")
    assert store.stat("a/b/c.txt") is None
    with pytest.raises(BlobNotFound):
        store.get("a/b/c.txt")


def test_overwrite_replaces(store):
    store.put("k", b"one")
    store.put("k", b"two")
    assert store.get("k") == b"two"


def test_list_is_lexicographic_with_prefix_and_start_after(store):
    for k in ["p/3", "p/1", "p/2/x", "q/1"]:
        store.put(k, b"x")
    assert [b.key for b in store.list("p/")] == ["p/1", "p/2/x", "p/3"]
    assert [b.key for b in store.list("p/", start_after="p/1")] == ["p/2/x", "p/3"]


def test_size_limit_on_get(store):
    store.put("big", b"x" * 2000)
    with pytest.raises(ObjectTooLarge):
        store.get("big", max_bytes=1000)


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "", "a/./b"])
def test_keys_cannot_escape(store, key):
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_missing_bucket_or_key_is_not_found(store):
    with pytest.raises(BlobNotFound):
        store.get("nope")
    assert store.stat("nope") is None


def test_ping(store):
    store.ping()
