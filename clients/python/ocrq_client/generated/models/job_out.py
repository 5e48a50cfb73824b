from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.job_out_status import check_job_out_status
from ..models.job_out_status import JobOutStatus
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.error_out import ErrorOut
  from ..models.input_out import InputOut
  from ..models.job_out_metadata import JobOutMetadata
  from ..models.job_out_params import JobOutParams
  from ..models.job_out_progress_type_0 import JobOutProgressType0
  from ..models.links import Links
  from ..models.ocr_result import OcrResult
  from ..models.quality_out import QualityOut
  from ..models.review_out import ReviewOut


T = TypeVar("T", bound="JobOut")


@_attrs_define
class JobOut:
    """
        Attributes:
            attempts (int):
            created_at (str):
            id (str):
            input_ (InputOut):
            links (Links):
            metadata (JobOutMetadata):
            params (JobOutParams):
            priority (str):
            status (JobOutStatus):
            task (str):
            updated_at (str):
            batch_id (None | str | Unset):
            error (ErrorOut | None | Unset):
            expires_at (None | str | Unset):
            finished_at (None | str | Unset):
            needs_review (bool | Unset):  Default: False.
            pages (list[int] | None | Unset):
            pages_failed (int | None | Unset):
            pages_total (int | None | Unset):
            progress (JobOutProgressType0 | None | Unset):
            quality (None | QualityOut | Unset):
            result (None | OcrResult | Unset):
            review (None | ReviewOut | Unset):
            review_reasons (list[str] | None | Unset):
            started_at (None | str | Unset):
            trace_id (None | str | Unset):
            webhook_url (None | str | Unset):
     """

    attempts: int
    created_at: str
    id: str
    input_: InputOut
    links: Links
    metadata: JobOutMetadata
    params: JobOutParams
    priority: str
    status: JobOutStatus
    task: str
    updated_at: str
    batch_id: None | str | Unset = UNSET
    error: ErrorOut | None | Unset = UNSET
    expires_at: None | str | Unset = UNSET
    finished_at: None | str | Unset = UNSET
    needs_review: bool | Unset = False
    pages: list[int] | None | Unset = UNSET
    pages_failed: int | None | Unset = UNSET
    pages_total: int | None | Unset = UNSET
    progress: JobOutProgressType0 | None | Unset = UNSET
    quality: None | QualityOut | Unset = UNSET
    result: None | OcrResult | Unset = UNSET
    review: None | ReviewOut | Unset = UNSET
    review_reasons: list[str] | None | Unset = UNSET
    started_at: None | str | Unset = UNSET
    trace_id: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.error_out import ErrorOut # noqa: PLC0415
        from ..models.input_out import InputOut # noqa: PLC0415
        from ..models.job_out_metadata import JobOutMetadata # noqa: PLC0415
        from ..models.job_out_params import JobOutParams # noqa: PLC0415
        from ..models.job_out_progress_type_0 import JobOutProgressType0 # noqa: PLC0415
        from ..models.links import Links # noqa: PLC0415
        from ..models.ocr_result import OcrResult # noqa: PLC0415
        from ..models.quality_out import QualityOut # noqa: PLC0415
        from ..models.review_out import ReviewOut # noqa: PLC0415
        attempts = self.attempts

        created_at = self.created_at

        id = self.id

        input_ = self.input_.to_dict()

        links = self.links.to_dict()

        metadata = self.metadata.to_dict()

        params = self.params.to_dict()

        priority = self.priority

        status: str = self.status

        task = self.task

        updated_at = self.updated_at

        batch_id: None | str | Unset
        if isinstance(self.batch_id, Unset):
            batch_id = UNSET
        else:
            batch_id = self.batch_id

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorOut):
            error = self.error.to_dict()
        else:
            error = self.error

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        else:
            expires_at = self.expires_at

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        else:
            finished_at = self.finished_at

        needs_review = self.needs_review

        pages: list[int] | None | Unset
        if isinstance(self.pages, Unset):
            pages = UNSET
        elif isinstance(self.pages, list):
            pages = self.pages


        else:
            pages = self.pages

        pages_failed: int | None | Unset
        if isinstance(self.pages_failed, Unset):
            pages_failed = UNSET
        else:
            pages_failed = self.pages_failed

        pages_total: int | None | Unset
        if isinstance(self.pages_total, Unset):
            pages_total = UNSET
        else:
            pages_total = self.pages_total

        progress: dict[str, Any] | None | Unset
        if isinstance(self.progress, Unset):
            progress = UNSET
        elif isinstance(self.progress, JobOutProgressType0):
            progress = self.progress.to_dict()
        else:
            progress = self.progress

        quality: dict[str, Any] | None | Unset
        if isinstance(self.quality, Unset):
            quality = UNSET
        elif isinstance(self.quality, QualityOut):
            quality = self.quality.to_dict()
        else:
            quality = self.quality

        result: dict[str, Any] | None | Unset
        if isinstance(self.result, Unset):
            result = UNSET
        elif isinstance(self.result, OcrResult):
            result = self.result.to_dict()
        else:
            result = self.result

        review: dict[str, Any] | None | Unset
        if isinstance(self.review, Unset):
            review = UNSET
        elif isinstance(self.review, ReviewOut):
            review = self.review.to_dict()
        else:
            review = self.review

        review_reasons: list[str] | None | Unset
        if isinstance(self.review_reasons, Unset):
            review_reasons = UNSET
        elif isinstance(self.review_reasons, list):
            review_reasons = self.review_reasons


        else:
            review_reasons = self.review_reasons

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        else:
            started_at = self.started_at

        trace_id: None | str | Unset
        if isinstance(self.trace_id, Unset):
            trace_id = UNSET
        else:
            trace_id = self.trace_id

        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "attempts": attempts,
            "created_at": created_at,
            "id": id,
            "input": input_,
            "links": links,
            "metadata": metadata,
            "params": params,
            "priority": priority,
            "status": status,
            "task": task,
            "updated_at": updated_at,
        })
        if batch_id is not UNSET:
            field_dict["batch_id"] = batch_id
        if error is not UNSET:
            field_dict["error"] = error
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if needs_review is not UNSET:
            field_dict["needs_review"] = needs_review
        if pages is not UNSET:
            field_dict["pages"] = pages
        if pages_failed is not UNSET:
            field_dict["pages_failed"] = pages_failed
        if pages_total is not UNSET:
            field_dict["pages_total"] = pages_total
        if progress is not UNSET:
            field_dict["progress"] = progress
        if quality is not UNSET:
            field_dict["quality"] = quality
        if result is not UNSET:
            field_dict["result"] = result
        if review is not UNSET:
            field_dict["review"] = review
        if review_reasons is not UNSET:
            field_dict["review_reasons"] = review_reasons
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if trace_id is not UNSET:
            field_dict["trace_id"] = trace_id
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_out import ErrorOut # noqa: PLC0415
        from ..models.input_out import InputOut # noqa: PLC0415
        from ..models.job_out_metadata import JobOutMetadata # noqa: PLC0415
        from ..models.job_out_params import JobOutParams # noqa: PLC0415
        from ..models.job_out_progress_type_0 import JobOutProgressType0 # noqa: PLC0415
        from ..models.links import Links # noqa: PLC0415
        from ..models.ocr_result import OcrResult # noqa: PLC0415
        from ..models.quality_out import QualityOut # noqa: PLC0415
        from ..models.review_out import ReviewOut # noqa: PLC0415
        d = dict(src_dict)
        attempts = d.pop("attempts")

        created_at = d.pop("created_at")

        id = d.pop("id")

        input_ = InputOut.from_dict(d.pop("input"))


        links = Links.from_dict(d.pop("links"))


        metadata = JobOutMetadata.from_dict(d.pop("metadata"))


        params = JobOutParams.from_dict(d.pop("params"))


        priority = d.pop("priority")

        status = check_job_out_status(d.pop("status"))


        task = d.pop("task")

        updated_at = d.pop("updated_at")

        def _parse_batch_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        batch_id = _parse_batch_id(d.pop("batch_id", UNSET))


        def _parse_error(data: object) -> ErrorOut | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = ErrorOut.from_dict(data)


                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorOut | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))


        def _parse_expires_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))


        def _parse_finished_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))


        needs_review = d.pop("needs_review", UNSET)

        def _parse_pages(data: object) -> list[int] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                pages_type_0 = cast(list[int], data)

                return pages_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[int] | None | Unset, data)

        pages = _parse_pages(d.pop("pages", UNSET))


        def _parse_pages_failed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        pages_failed = _parse_pages_failed(d.pop("pages_failed", UNSET))


        def _parse_pages_total(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        pages_total = _parse_pages_total(d.pop("pages_total", UNSET))


        def _parse_progress(data: object) -> JobOutProgressType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                progress_type_0 = JobOutProgressType0.from_dict(data)


                return progress_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobOutProgressType0 | None | Unset, data)

        progress = _parse_progress(d.pop("progress", UNSET))


        def _parse_quality(data: object) -> None | QualityOut | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                quality_type_0 = QualityOut.from_dict(data)


                return quality_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | QualityOut | Unset, data)

        quality = _parse_quality(d.pop("quality", UNSET))


        def _parse_result(data: object) -> None | OcrResult | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                result_type_0 = OcrResult.from_dict(data)


                return result_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OcrResult | Unset, data)

        result = _parse_result(d.pop("result", UNSET))


        def _parse_review(data: object) -> None | ReviewOut | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                review_type_0 = ReviewOut.from_dict(data)


                return review_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ReviewOut | Unset, data)

        review = _parse_review(d.pop("review", UNSET))


        def _parse_review_reasons(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                review_reasons_type_0 = cast(list[str], data)

                return review_reasons_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        review_reasons = _parse_review_reasons(d.pop("review_reasons", UNSET))


        def _parse_started_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))


        def _parse_trace_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        trace_id = _parse_trace_id(d.pop("trace_id", UNSET))


        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))


        job_out = cls(
            attempts=attempts,
            created_at=created_at,
            id=id,
            input_=input_,
            links=links,
            metadata=metadata,
            params=params,
            priority=priority,
            status=status,
            task=task,
            updated_at=updated_at,
            batch_id=batch_id,
            error=error,
            expires_at=expires_at,
            finished_at=finished_at,
            needs_review=needs_review,
            pages=pages,
            pages_failed=pages_failed,
            pages_total=pages_total,
            progress=progress,
            quality=quality,
            result=result,
            review=review,
            review_reasons=review_reasons,
            started_at=started_at,
            trace_id=trace_id,
            webhook_url=webhook_url,
        )


        job_out.additional_properties = d
        return job_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
