"""Planning one item of a batch: classify it, then skip it, fail it or queue its job.

Each outcome goes to Redis in one ``advance`` script call (shared/batches/lua.py) together with
the move of the batch's listing cursor, so two planners never plan the same item and a planner
that dies mid-way leaves either nothing or everything of the item written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from redis.typing import EncodableT

from shared.batches.accounting import emit_item_event, failure_json, ledger_row
from shared.batches.dedup import Verdict, classify
from shared.batches.lua import Scripts
from shared.batches.model import Batch, bkey
from shared.batches.sources import Item
from shared.infra.blobs import BlobStore
from shared.infra.settings import Settings
from shared.jobs.model import Job
from shared.jobs.store import JobStore
from shared.webhooks.outbox import Outbox

Send = Callable[[str, str], None]  # (job_id, queue)


@dataclass(frozen=True)
class Planned:
    """What the ``advance`` script answered and what the item became.

    ``advanced``: 1 done; 0 the cursor was not where we expected (another planner moved it);
    -1 the batch was canceled meanwhile. ``kind``: ``queue`` (a job was sent), ``skip`` or ``fail``.
    """

    advanced: int
    kind: str


class ItemPlanner:
    def __init__(self, settings: Settings, store: JobStore, scripts: Scripts, blobs: BlobStore, outbox: Outbox,
                 send: Send) -> None:
        self.settings, self.store, self.scripts, self.blobs = settings, store, scripts, blobs
        self.outbox, self.send = outbox, send

    def plan(self, b: Batch, item: Item, engine: tuple[str, str | None], rnd: int, *, expected: str,
             new_cursor: str, count: bool, pop_retry: bool) -> Planned:
        """Plan ``item`` and move the cursor from ``expected`` to ``new_cursor`` with it.

        ``count``: a newly listed item (counted as planned); ``pop_retry``: a retried failure,
        taken off the batch's retry list by the same script."""
        v = classify(self.blobs, self.settings, b, item, engine, write_mirror=True)
        cursor = [expected, new_cursor]
        flags = ["1" if count else "0", "1" if pop_retry else "0"]
        item.pages = v.pages if v.kind != "fail" else None  # what it counts in the batch's page counters
        if v.kind == "skip":
            return Planned(self._skip(b, item, v, cursor, flags), "skip")
        if v.kind == "fail":
            return Planned(self._fail(b, item, v, cursor, flags), "fail")
        return Planned(self._queue(b, item, v, rnd, cursor, flags), "queue")

    def _advance(self, b: Batch, args: list[EncodableT]) -> int:
        keys = [bkey(b.id, part) for part in ("", "inflight", "failures", "ledger", "retry")]
        return int(self.scripts.advance(keys=keys, args=args))

    def _skip(self, b: Batch, item: Item, v: Verdict, cursor: list[str], flags: list[str]) -> int:
        """Already done for this engine version: a ledger row, no job."""
        row = ledger_row(b, item, "skipped", sha256=v.sha256)
        advanced = self._advance(b, [*cursor, "skip", "", "", row, "", "", *flags, v.pages])
        if advanced == 1:
            emit_item_event(self.outbox, b, item, row)
        return advanced

    def _fail(self, b: Batch, item: Item, v: Verdict, cursor: list[str], flags: list[str]) -> int:
        """Cannot run (missing, not an image, too large ...): a ledger row and a failure with its reason."""
        row = ledger_row(b, item, "failed", sha256=v.sha256, error={"code": v.code, "message": v.message})
        failure = failure_json(item, v.code, v.message, v.sha256)
        advanced = self._advance(b, [*cursor, "fail", "", "", row, item.id, failure, *flags, 0])
        if advanced == 1:
            emit_item_event(self.outbox, b, item, row)
        return advanced

    def _queue(self, b: Batch, item: Item, v: Verdict, rnd: int, cursor: list[str], flags: list[str]) -> int:
        """Create the item's job (its id is fixed per round, so a rerun finds it) and send it."""
        assert v.input is not None
        job_id = b.job_id(item.id, rnd)
        job = self.store.get(job_id)
        if job is None:
            job = Job(
                id=job_id,
                tenant=b.tenant,
                spec=b.spec,
                priority="bulk",
                input=v.input,
                metadata=item.metadata or {},
                batch_id=b.id,
                # a PDF / multi-page TIFF: one job over all its pages, as a document upload makes
                pages_total=v.pages_total,
                pages=list(range(1, v.pages_total + 1)) if v.pages_total else None,
            )
            self.store.create(job)  # on the 'unsent' list until mark_sent: the reaper covers a crash here
        res = self._advance(b, [*cursor, "queue", job_id, item.to_json(), "", "", "", *flags, v.pages])
        if res == 1:
            if not job.terminal:
                self.send(job_id, "bulk")
            self.store.mark_sent(job_id)
        elif res == -1:  # canceled meanwhile
            self.store.cancel(job_id)
            self.store.delete(job)
        return res
