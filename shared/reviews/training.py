"""Training data from resolved reviews: one JSONL record per approved or corrected image job.

The layout is the multimodal "sharegpt" conversation format of LLaMA-Factory (``messages`` with ``role`` and
``content``, the image as an ``<image>`` placeholder in the user turn, ``images`` listing the image files),
which ms-swift reads as is too. The assistant turn is the (corrected) answer in HunyuanOCR's own output
format for the task:

- a result with line boxes (spotting, and text read by a line engine): one line per text line,
  ``TEXT(x1,y1),(x2,y2)``, corners normalised to 0-1000 of the image;
- ``fields``: the fields as a JSON object;
- anything else: the plain text.

``ocrq`` beside them keeps the job id, the decision, the revision, the image size and every line with its box
in original pixels (docs/review-line.schema.json is the JSON Schema of one such line). Rejected reviews are
not training data; documents are left out (their page images are rendered by the worker, not stored).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from shared.infra import keyspace
from shared.infra.blobs import BlobStore
from shared.infra.redis_client import as_str
from shared.jobs.model import Job, Status
from shared.reviews.service import result_revision
from shared.reviews.store import ReviewStore

NORM = 1000  # HunyuanOCR's coordinate range (models/parsers.py NORM)
# The official prompts (models/prompts.py holds the same strings; tests/gateway/test_reviews.py checks they agree).
SPOTTING_PROMPT = "检测并识别图片中的文字，将文本坐标格式化输出。"
TEXT_PROMPT = "提取图中的文字。"
FIELDS_TEMPLATE = "提取图片中的: {fields} 的字段内容，并按照 JSON 格式返回。"
FORMAT = "sharegpt (LLaMA-Factory multimodal; ms-swift)"


def _norm(v: float, size: int) -> int:
    return max(0, min(NORM, round(v * NORM / max(size, 1))))


def spotting_answer(lines: list[dict[str, Any]], width: int, height: int) -> str:
    out = []
    for ln in lines:
        x0, y0, x1, y1 = ln["box"]
        out.append(f"{ln['text']}({_norm(x0, width)},{_norm(y0, height)}),({_norm(x1, width)},{_norm(y1, height)})")
    return "\n".join(out)


def clamp_box(box: list[int] | tuple[int, ...], width: int, height: int) -> list[int]:
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, x1 = sorted((max(0, min(width - 1, x0)), max(0, min(width - 1, x1))))
    y0, y1 = sorted((max(0, min(height - 1, y0)), max(0, min(height - 1, y1))))
    return [x0, y0, x1, y1]


def record(job: Job, result: dict[str, Any], image_path: str) -> dict[str, Any]:
    """One JSONL record for the job's served revision; ``image_path`` as the record names its image file."""
    width, height = int(result["image"]["width"]), int(result["image"]["height"])
    lines = [{"text": str(ln.get("text", "")), "box": clamp_box(ln["box"], width, height),
              **({"confidence": ln["confidence"]} if ln.get("confidence") is not None else {})}
             for ln in result.get("lines") or [] if ln.get("box")]
    task = job.spec.task
    if task == "fields" and job.spec.fields:
        prompt = FIELDS_TEMPLATE.format(fields=str([f.strip() for f in job.spec.fields]))
        answer = json.dumps(result.get("fields") or {}, ensure_ascii=False)
    elif lines:  # lines with boxes teach spotting: what the model should answer for this image
        prompt, answer = SPOTTING_PROMPT, spotting_answer(lines, width, height)
    else:
        prompt, answer = TEXT_PROMPT, str(result.get("text") or "")
    block = job.review or {}
    return {
        "messages": [{"role": "user", "content": "<image>" + prompt}, {"role": "assistant", "content": answer}],
        "images": [image_path],
        "ocrq": {"job_id": job.id, "tenant": job.tenant, "task": task, "decision": block.get("decision"),
                 "revision": result.get("revision", 1), "resolved_at": block.get("resolved_at"),
                 "width": width, "height": height, "lines": lines},
    }


def resolved_since(reviews: ReviewStore, tenant: str, since_ms: int, limit: int) -> Iterator[Job]:
    """The tenant's approved or corrected image jobs resolved at or after ``since_ms``, oldest opened first."""
    found = 0
    for member in cast("list[bytes]", reviews.r.zrange(keyspace.tenant_reviews(tenant), 0, -1)):
        job = reviews.jobs.get(as_str(member))
        if job is None or job.status != Status.succeeded or not job.review:
            continue
        block = job.review
        if block.get("state") != "resolved" or block.get("decision") not in ("approve", "correct"):
            continue
        if int(block.get("resolved_at") or 0) < since_ms or job.pages_total is not None:
            continue
        yield job
        found += 1
        if found >= limit:
            return


def image_name(job: Job) -> str:
    ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/bmp": "bmp",
           "image/tiff": "tif"}.get(job.input.content_type, "img")
    return f"images/{job.id}.{ext}"


def export_records(reviews: ReviewStore, blobs: BlobStore, tenant: str, since_ms: int,
                   limit: int) -> list[dict[str, Any]]:
    out = []
    for job in resolved_since(reviews, tenant, since_ms, limit):
        engine = json.loads(blobs.get(job.result_key or ""))
        out.append(record(job, result_revision(blobs, job, engine, None), image_name(job)))
    return out
