"""The job runner against a real Redis and a local store, with engines that misbehave on purpose."""

import socket

import imaging
import pytest
from runner_harness import BoxEngine, runner_env, submit

from shared.jobs import Status
from shared.results import OcrResult
from workers.runner import JobRunner


@pytest.fixture
def env(redis_db, tmp_path):
    return runner_env(redis_db, tmp_path)


def test_success_scales_boxes_to_the_original_image(env):
    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg(1024, 512))
    out = JobRunner(settings, store, blobs, BoxEngine()).run(job_id)
    assert out.status == "succeeded"
    job = store.get(job_id)
    result = OcrResult.model_validate_json(blobs.get(job.result_key))
    # decoded at 256 px wide, reported in the 1024 px original: x4
    assert result.lines[0].box == (40, 40, 200, 80) and result.image.width == 1024


def test_redelivery_of_a_finished_job_is_skipped(env):
    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    engine = BoxEngine()
    runner = JobRunner(settings, store, blobs, engine)
    assert runner.run(job_id).status == "succeeded"
    assert runner.run(job_id).status == "skipped" and engine.calls == 1
    assert store.get(job_id).attempts == 1


def test_engine_error_fails_only_its_own_job_in_a_batch(env):
    settings, store, blobs = env
    good, bad = submit(store, blobs, imaging.jpeg(200, 100)), submit(store, blobs, imaging.jpeg(123, 100))
    outcomes = JobRunner(settings, store, blobs, BoxEngine()).run_many([good, bad])
    assert [o.status for o in outcomes] == ["succeeded", "failed"]
    assert store.get(bad).error.code == "bad_image"


def test_truncated_and_missing_inputs_fail_permanently_without_retries(env):
    settings, store, blobs = env
    trunc = submit(store, blobs, imaging.truncated_jpeg())
    runner = JobRunner(settings, store, blobs, BoxEngine())
    assert runner.run(trunc).status == "failed"
    assert store.get(trunc).error.code == "corrupt_image" and store.get(trunc).attempts == 1
    missing = submit(store, blobs, imaging.jpeg(300, 300))
    blobs.delete(store.get(missing).input.key)
    assert runner.run(missing).status == "failed" and store.get(missing).error.code == "input_missing"


def test_an_engine_exception_is_retried_then_fails_after_the_attempt_cap(env):
    settings, store, blobs = env
    poison = submit(store, blobs, imaging.jpeg(222, 100))
    other = submit(store, blobs, imaging.jpeg(200, 100))
    runner = JobRunner(settings, store, blobs, BoxEngine(crash_on_width=222))
    statuses = [runner.run(poison).status for _ in range(3)]
    assert statuses == ["retry", "retry", "failed"]
    job = store.get(poison)
    assert job.status == Status.failed and job.error.code == "engine_error" and job.attempts == 3
    assert runner.run(other).status == "succeeded"  # the worker keeps serving


def test_a_job_whose_worker_died_is_taken_over_until_the_cap(env):
    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    dead = f"{socket.gethostname()}:999999999"  # a pid that does not exist on this host
    for _ in range(3):  # three deliveries that each crash the process before finishing
        assert store.get(job_id).status in (Status.queued, Status.running)
        job = store.get(job_id)
        if job.status == Status.queued:
            store.claim(job_id, dead, 30)
        else:
            store.take_over(job_id, dead, 30, job.worker)
    out = JobRunner(settings, store, blobs, BoxEngine()).run(job_id)
    assert out.status == "failed" and store.get(job_id).error.code == "attempts_exhausted"


def test_a_job_held_by_a_live_worker_is_left_alone(env):
    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    store.claim(job_id, "other-host:1", 30)
    out = JobRunner(settings, store, blobs, BoxEngine()).run(job_id)
    assert out.status == "retry" and 25 < out.retry_in <= 31
    assert store.get(job_id).worker == "other-host:1"


def test_reaper_resends_expired_leases_and_unsent_jobs(env):
    from workers.reaper import reap_once

    settings, store, blobs = env
    running = submit(store, blobs, imaging.jpeg())
    store.mark_sent(running)
    store.claim(running, "gone-host:1", 1)
    unsent = submit(store, blobs, imaging.jpeg(300, 200))
    sent = []
    far_future = store.get(unsent).created_at + 60_000
    assert reap_once(store, lambda j, q: sent.append((j, q)), lease_s=30, now=far_future) == 2
    assert sorted(sent) == sorted([(running, "interactive"), (unsent, "interactive")])
    # the lease deadline was pushed on: the next pass does not resend at once
    assert reap_once(store, lambda j, q: sent.append((j, q)), lease_s=30, now=far_future + 1000) == 0


def test_a_job_that_ends_elsewhere_while_decoding_frees_the_engine_and_keeps_its_state(env):
    # The engine polls EngineRequest.cancelled while it decodes (HunyuanOCR frees the slot). Here the
    # job is finished by another worker mid-decode (a lost lease): the probe turns True and the
    # engine's "canceled" answer does not overwrite what the other worker stored.
    import json

    from models.base import EngineError

    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    seen = []

    class Polling:
        name, version, tasks = "polling", "1", frozenset({"text"})

        def run(self, requests):
            (req,) = requests
            req.cancelled.every_s = 0.0  # poll Redis on every call in this test
            seen.append(req.cancelled())
            store.r.hset(store.key(job_id), "status", json.dumps("succeeded"))  # the other worker's finish
            seen.append(req.cancelled())
            return [EngineError("canceled", "the job was canceled while decoding")]

    JobRunner(settings, store, blobs, Polling()).run(job_id)
    assert seen == [False, True]
    assert store.get(job_id).status == Status.succeeded
