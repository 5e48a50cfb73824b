"""Bulk backfill of objects already in storage: batches, their sources, dedup, accounting and ledger.

The planner loop that drives them is workers/planner.py.

A batch points at a source (a prefix, optionally globbed, or a manifest of keys) and an output
prefix. Nothing is copied: each item becomes a `bulk` job whose input *is* the source object.

Redis holds, per batch, only what does not grow with the batch (key layout, prefix ``ocrq:``):
  batch:<id>              hash: config, listing cursor, counters, rate, ledger shard sequence
  batch:<id>:inflight     hash: job id -> item (at most `window` entries)
  batch:<id>:ledger       list: ledger rows not yet written as a shard (flushed every tick)
  batch:<id>:retry        list: failed items handed back by retry-failed
  batch:<id>:failures     hash: item -> reason (grows with failures only)
  batch:<id>:lock         string: the planner that owns the batch right now (short TTL)
  batches:active          set: batches a planner should look at
  tenant:<t>:batches      zset: a tenant's batches by creation time
  planner:wake            list: nudges from the finished hook ("a slot is free")
  engine:<name>:version   string: the engine version workers run (recorded at worker start)
  engine:bulk             string: the name of the engine the workers consuming `bulk` run

Dedup lives in the object store, not in Redis, so it scales with the bucket, not with Redis memory:
the fingerprint of an item is sha256(content sha256, task, params, engine name, engine version);
``<out>/_cas/<fp>.json`` holds the result for a fingerprint, and ``<out>/<source key>.json`` (the
mirror) records the fingerprint it was made from. An item whose mirror already carries its
fingerprint, or whose fingerprint is in _cas, is skipped without OCR.

Crash safety: every step of an item is idempotent and ordered so that a crash anywhere repeats at
most that item's step. Job ids are an HMAC of (batch secret, retry round, item), so re-planning an
item after a crash finds the same job instead of making a second one. The cursor moves with the
item's registration in one Lua script (compare-and-set on the cursor), and an item is accounted
exactly once (HDEL from the in-flight hash inside the accounting script).
"""
