"""The bulk-backfill planner in-process for the tests: a real Redis, a local store, a stub engine, and a runner
driven a few jobs per tick (a slow fleet), so windows, dedup, ledgers and crash recovery are checked in seconds."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import imaging
from PIL import Image, ImageDraw

from models.base import EngineOutput
from shared.batches.accounting import batch_hook
from shared.batches.model import FINAL_BATCH, Batch, bkey, create_batch, new_batch_id, record_engine_version
from shared.infra.redis_client import connect
from shared.infra.settings import load_settings
from shared.infra.storage import open_blob_store
from shared.jobs.store import JobStore
from workers.planner import Planner
from workers.runner import JobRunner


# ----------------------------------------------------------------------------------------- images
def digit_png(d: int, variant: int = 0) -> bytes:
    """A tiny PNG with one digit drawn; `variant` shifts it so contents (sha256) differ."""
    im = Image.new("L", (40 + 4 * variant, 32), 255)
    ImageDraw.Draw(im).text((12 + 2 * variant, 6), str(d), fill=0, font=imaging.font(18))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- in-process harness
class StubEngine:
    name = "rapidocr"  # the configured engine name: fingerprints use it
    version = "stub-1"
    tasks = frozenset({"text", "spotting"})

    def __init__(self) -> None:
        self.calls = 0

    def run(self, reqs):  # type: ignore[no-untyped-def]
        self.calls += len(reqs)
        return [EngineOutput(text=f"{r.image.size[0]}x{r.image.size[1]}:{r.image.getpixel((0, 0))}") for r in reqs]


class Harness:
    def __init__(self, redis_url: str, root: Path, window: int = 8) -> None:
        self.settings = load_settings(redis_url=redis_url, storage_url=f"file://{root}", bucket="ocrq")
        self.r = connect(redis_url)
        self.store = JobStore(self.r, self.settings.retention_s)
        self.blobs = open_blob_store(self.settings)
        self.sent: list[str] = []
        self.engine = StubEngine()
        record_engine_version(self.r, "rapidocr", StubEngine.version, serves_bulk=True)
        self.planner = self.new_planner()
        self.runner = JobRunner(self.settings, self.store, self.blobs, self.engine,
                                on_finished=[batch_hook(self.settings, self.store)])
        self.window = window
        self.max_inflight = 0

    def new_planner(self, **settings: Any) -> Planner:
        return Planner(self.settings.model_copy(update=settings), self.r, self.blobs, lambda j, q: self.sent.append(j))

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.blobs.put(key, data, bucket=bucket)

    def create(self, **kw) -> str:  # type: ignore[no-untyped-def]
        from shared.jobs.task_spec import TaskSpec

        bid = new_batch_id()
        kw.setdefault("out_bucket", "scans")
        kw.setdefault("out_prefix", "ocr/")
        kw.setdefault("src_bucket", "scans")
        create_batch(self.r, batch_id=bid, tenant="acme", spec=TaskSpec(task="text"), window=self.window, **kw)
        return bid

    def drive(self, bid: str, limit: int = 10_000) -> Batch:
        for _ in range(limit):
            self.planner.tick(bid)
            self.max_inflight = max(self.max_inflight, self.r.hlen(bkey(bid, "inflight")))
            b = Batch.load(self.r, bid)
            assert b is not None
            if b.status in FINAL_BATCH:
                return b
            jobs, self.sent = self.sent, []
            for j in jobs[:3]:  # a slow fleet: a few jobs per tick
                self.runner.run(j)
            self.sent = jobs[3:] + self.sent
        raise AssertionError("batch did not finish")

    def ledger(self, bid: str, prefix: str = "ocr/") -> list[dict]:
        rows = []
        for info in self.blobs.list(f"{prefix}_ledger/{bid}/", bucket="scans"):
            rows += [json.loads(x) for x in self.blobs.get(info.key, bucket="scans").decode().splitlines()]
        return rows
