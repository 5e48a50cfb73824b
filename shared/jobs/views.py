"""How a job is shown: the API's job document, which webhook events carry as well."""

from __future__ import annotations

from typing import Any

from shared.api_schemas.jobs import JobOut, QualityOut
from shared.jobs.model import Job, iso_ms
from shared.results.model import OcrResult
from shared.reviews.view import review_out


def job_links(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {"self": base, "result": f"{base}/result", "image": f"{base}/image"}


def render_job(job: Job, result: OcrResult | None = None) -> dict[str, Any]:
    out = JobOut(
        id=job.id,
        status=job.status.value,
        task=job.spec.task,
        params=job.spec.params(),
        priority=job.priority,
        attempts=job.attempts,
        created_at=iso_ms(job.created_at) or "",
        updated_at=iso_ms(job.updated_at) or "",
        started_at=iso_ms(job.started_at),
        finished_at=iso_ms(job.finished_at),
        expires_at=iso_ms(job.expires_at),
        input={k: getattr(job.input, k) for k in ("sha256", "bytes", "content_type", "width", "height")},
        metadata=job.metadata,
        webhook_url=job.webhook_url,
        batch_id=job.batch_id,
        error=job.error.model_dump() if job.error else None,
        needs_review=job.needs_review,
        review_reasons=job.review_reasons,
        result=result,
        links=job_links(job.id),
        pages_total=job.pages_total,
        pages=job.pages,
        progress=job.progress,
        pages_failed=job.pages_failed,
        quality=QualityOut.model_validate(job.quality) if job.quality is not None else None,
        review=review_out(job.review),
        trace_id=job.trace_id,
    )
    doc = out.model_dump(mode="json", exclude_none=False)
    if job.pages_total is None:  # an image job's document stays exactly as before documents existed
        for name in DOCUMENT_FIELDS:
            doc.pop(name, None)
    if job.quality is None:  # only jobs submitted with quality=check carry a verdict
        doc.pop("quality", None)
    if not job.review:  # only a job routed to human review carries its review
        doc.pop("review", None)
    if job.trace_id is None:  # only a job submitted while tracing was on carries its trace id
        doc.pop("trace_id", None)
    return doc


DOCUMENT_FIELDS = ("pages_total", "pages", "progress", "pages_failed")
