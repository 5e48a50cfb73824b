"""GET /openapi.json: a valid OpenAPI 3.1 document of every route, and the running gateway
conforms to it under schemathesis (no 5xx, no schema or content-type violations)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import ROOT

# The exact command is in docs/api.md ("Testing"); {url}, {key} and {config} are filled in here.
SCHEMATHESIS_CONFIG = """\
# 414 is gunicorn refusing an over-long request line: a correct rejection of invalid data.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "413", "414", "415", "422", "429"]
"""


@pytest.fixture
def service(module_service):
    # No worker: submitted jobs stay queued. A short wait cap keeps fuzzed long-polls short;
    # a huge rate limit keeps 429s out of the way of the checks (429 is documented anyway).
    # One gunicorn gateway for the module (module_service), a fresh tenant per test.
    return module_service(worker=False, env={"OCRQ_WAIT_MAX_S": "2", "OCRQ_RATE_PER_S": "100000",
                                             "OCRQ_RATE_BURST": "100000"}).for_new_tenant()


def test_openapi_document_is_valid_and_covers_every_route(service):
    from openapi_spec_validator import validate

    r = requests.get(f"{service.url}/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    spec = r.json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API key from `ocrq keys create`"}
    schemas = spec["components"]["schemas"]
    assert {"Problem", "JobCreate", "JobOut", "JobList", "SourceRef", "OcrResult"} <= set(schemas)
    assert schemas["JobCreate"]["properties"]["task"]["enum"] == ["text", "spotting", "barcodes"]  # what rapidocr does
    paths = spec["paths"]
    # every route the app serves is in the document
    for rule in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result", "/v1/jobs/{job_id}/image",
                 "/v1/webhooks", "/v1/webhooks/{ep_id}/replay", "/v1/jobs/{job_id}/deliveries",
                 "/v1/batches", "/v1/batches/{batch_id}", "/v1/batches/{batch_id}/failures",
                 "/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert rule in paths, rule
    # each operation is documented by its own feature, none by the generic fallback; pages are not operations
    fallback = [(path, m) for path, item in paths.items() for m, op in item.items()
                if m != "parameters" and "other" in op.get("tags", [])]
    assert fallback == []
    assert "/" not in paths
    post = paths["/v1/jobs"]["post"]
    assert set(post["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobCreate"}
    assert {"200", "202", "400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    wait = next(p for p in paths["/v1/jobs/{job_id}"]["get"]["parameters"] if p["name"] == "wait")
    assert wait["schema"]["maximum"] == 2
    listing = {p["name"] for p in paths["/v1/jobs"]["get"]["parameters"]}
    assert listing == {"status", "task", "priority", "batch_id", "needs_review", "created_after", "created_before",
                       "limit", "cursor"}
    # every error of every jobs operation is problem+json with the Problem schema
    for path, item in paths.items():
        for method, op in item.items():
            if method == "parameters" or not {"jobs", "webhooks", "batches"} & set(op.get("tags", [])):
                continue
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")) and status != "414":
                    assert resp["content"] == {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }, (path, method, status)
    # all $refs resolve
    text = r.text
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in schemas, ref


@pytest.mark.slow  # ~60 s: every operation fuzzed against the running gateway
def test_schemathesis_finds_no_server_errors_or_schema_violations(service, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "-H",
        f"Authorization: Bearer {service.api_key}",
        "--max-examples",
        "20",
        "--max-time",
        "60",
        "--request-timeout",
        "10",
        "--seed",
        "1",
        "--no-color",
        "--generation-database",
        "none",
    ]
    out = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240, env={**os.environ, "SCHEMATHESIS_HOOKS": ""}
    )
    log = out.stdout + out.stderr
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / "schemathesis.txt").write_text(log)
    assert out.returncode == 0, log[-6000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", log)
    assert selected and selected.group(1) == selected.group(2), log[-3000:]  # all operations
    assert re.search(rf"Tested: {selected.group(1)}\b", log), log[-3000:]
    assert "failures" not in log.splitlines()[-1] or " 0 failures" in log.splitlines()[-1], log[-3000:]
    # the gateway logged no unhandled error while being fuzzed
    api_log = (service.logs / "api.log").read_text(errors="replace")
    assert "unhandled error" not in api_log, api_log[-3000:]
