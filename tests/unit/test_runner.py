"""The job runner against a real Redis and a local store, with engines that misbehave on purpose."""

import socket

import imaging
import pytest
from runner_harness import BoxEngine, runner_env, submit

from shared.jobs import Status
from shared.results.model import OcrResult
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


def test_a_late_answer_after_a_takeover_writes_nothing_and_is_refused_once(env, caplog):
    # The worker was cut off while its engine ran (tests/topology/test_partition.py does it over the
    # network): its lease lapsed, another worker took the job over and stored its result. The late
    # answer must not overwrite that result, nor finish the job; the refusal is logged once.
    import logging

    from shared.infra.blobs import result_key

    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    other = f"{socket.gethostname()}:1"
    theirs = b'{"by": "the worker that took it over"}'

    class Late:
        name, version, tasks = "late", "1", frozenset({"text"})

        def run(self, requests):
            job = store.get(job_id)
            assert store.take_over(job_id, other, 30, job.worker).applied
            blobs.put(result_key(job.tenant, job_id), theirs, "application/json")
            assert store.succeed(job_id, other, result_key(job.tenant, job_id)).applied
            return BoxEngine().run(requests)

    with caplog.at_level(logging.WARNING, logger="ocrq.runner"):
        out = JobRunner(settings, store, blobs, Late()).run(job_id)
    assert out.status == "skipped", out
    assert blobs.get(result_key("acme", job_id)) == theirs
    job = store.get(job_id)
    assert job.status == Status.succeeded and job.worker == other
    refused = [r for r in caplog.records if r.getMessage().startswith("finish refused")]
    assert len(refused) == 1 and getattr(refused[0], "job_id", None) == job_id, caplog.text


TRACEBACK_TEXT = ("Traceback", 'File "', "line ", "\n", "site-packages", "/")


def test_a_time_limit_an_engine_wraps_fails_at_once_with_time_limit_and_a_clean_message(env):
    # RapidOCR wraps Celery's SoftTimeLimitExceeded in ONNXRuntimeError, whose message is the whole
    # traceback: the job fails once as time_limit (no retry), its message one sentence.
    from runner_harness import WrappingEngine

    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    engine = WrappingEngine()
    runner = JobRunner(settings, store, blobs, engine)
    out = runner.run(job_id)
    assert (out.status, out.detail) == ("failed", "time_limit"), out
    job = store.get(job_id)
    assert job.status == Status.failed and job.error.code == "time_limit" and job.attempts == 1
    assert job.error.message == f"the job ran past OCRQ_JOB_TIME_LIMIT_S ({settings.job_time_limit_s} s)"
    assert runner.run(job_id).status == "skipped" and engine.calls == 1  # a redelivery runs nothing


def test_an_engine_error_it_wraps_is_retried_and_reported_in_one_clean_line(env):
    from runner_harness import WrappingEngine

    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    inner = ValueError("Got invalid dimensions for input: /opt/ocrq/models/det.onnx expects 3 channels")
    runner = JobRunner(settings, store, blobs, WrappingEngine(inner))
    assert [runner.run(job_id).status for _ in range(3)] == ["retry", "retry", "failed"]
    job = store.get(job_id)
    assert job.error.code == "engine_error"
    assert job.error.message == ("the engine failed: ONNXRuntimeError: ValueError: Got invalid dimensions for input: "
                                 "det.onnx expects 3 channels")
    assert not any(t in job.error.message for t in TRACEBACK_TEXT), job.error.message


def test_a_time_limit_wrapped_by_the_store_client_is_no_storage_outage(env):
    # An S3 client interrupted by the soft limit reports a BlobStoreError (from the time limit): the
    # job fails with time_limit instead of being given back, attempt refunded, for ever.
    from celery.exceptions import SoftTimeLimitExceeded

    from shared.infra.blobs import BlobStoreError

    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())

    class Interrupted(type(blobs)):
        def get(self, *a, **kw):
            try:
                raise SoftTimeLimitExceeded()
            except Exception as err:
                raise BlobStoreError(f"get x: {err}") from err

    slow = Interrupted(blobs.root, blobs.bucket)
    out = JobRunner(settings, store, slow, BoxEngine()).run(job_id)
    assert (out.status, out.detail) == ("failed", "time_limit"), out
    assert store.get(job_id).attempts == 1


def test_short_error_is_one_clean_line_whatever_an_exception_wraps():
    import traceback

    from celery.exceptions import SoftTimeLimitExceeded

    from shared.failures import ERROR_MESSAGE_MAX, is_time_limit, short_error

    def wrapped(inner, outer=RuntimeError, how="cause"):
        try:
            try:
                raise inner
            except Exception as e:
                if how == "cause":
                    raise outer(traceback.format_exc()) from e
                if how == "none":
                    raise outer("the engine gave up") from None
                raise outer("")  # noqa: B904 - the implicit context is what is tested
        except Exception as err:
            return err

    onnx = wrapped(RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code"))
    assert short_error(onnx) == "RuntimeError: RuntimeError: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code"
    assert is_time_limit(wrapped(SoftTimeLimitExceeded()))
    assert is_time_limit(wrapped(SoftTimeLimitExceeded(), how="none"))  # `from None` hides it from tracebacks only
    assert is_time_limit(wrapped(SoftTimeLimitExceeded(), how="context"))
    assert is_time_limit(ExceptionGroup("batch", [ValueError("x"), SoftTimeLimitExceeded()]))
    assert not is_time_limit(onnx) and not is_time_limit(ValueError("TimeLimitExceeded in the text only"))
    assert short_error(wrapped(KeyError("det"), how="context")) == "RuntimeError: KeyError: 'det'"  # empty: the context speaks
    assert short_error(ValueError("\n\n  first line\nsecond")) == "ValueError: first line"
    assert short_error(OSError(2, "No such file", "/srv/ocrq/models/rec.onnx")) == \
        "FileNotFoundError: [Errno 2] No such file: 'rec.onnx'"
    assert short_error(ValueError("see https://example.com/a/b and 1/2 pages")).endswith("https://example.com/a/b and 1/2 pages")
    long = short_error(ValueError("x" * 500))
    assert len(long) == ERROR_MESSAGE_MAX and long.endswith("…")
    for err in (onnx, wrapped(SoftTimeLimitExceeded()), wrapped(ValueError("bad")), wrapped(OSError("disk"))):
        assert not any(t in short_error(err) for t in ("Traceback", 'File "', "\n")), short_error(err)
