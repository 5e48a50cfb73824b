from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.job_create_barcodes import check_job_create_barcodes
from ..models.job_create_barcodes import JobCreateBarcodes
from ..models.job_create_priority import check_job_create_priority
from ..models.job_create_priority import JobCreatePriority
from ..models.job_create_quality_type_0 import check_job_create_quality_type_0
from ..models.job_create_quality_type_0 import JobCreateQualityType0
from ..models.job_create_review import check_job_create_review
from ..models.job_create_review import JobCreateReview
from ..models.job_create_target_lang_type_0 import check_job_create_target_lang_type_0
from ..models.job_create_target_lang_type_0 import JobCreateTargetLangType0
from ..models.job_create_task import check_job_create_task
from ..models.job_create_task import JobCreateTask
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.job_create_metadata import JobCreateMetadata
  from ..models.source_ref import SourceRef


T = TypeVar("T", bound="JobCreate")


@_attrs_define
class JobCreate:
    """ JSON body of POST /v1/jobs for an object already in storage.

        Attributes:
            source (SourceRef):
            barcodes (JobCreateBarcodes | Unset): decode barcodes beside the task: auto (on for images), on, off Default:
                'auto'.
            fields (list[str] | None | Unset): task 'fields': the names to read (a form field: a JSON list or comma-
                separated names)
            instruction (None | str | Unset):
            metadata (JobCreateMetadata | Unset): A JSON object (at most 4096 bytes), echoed back
            pages (None | str | Unset): PDF or multi-page TIFF: the pages to read, 1-based, e.g. "1-3,7" (default: all)
            priority (JobCreatePriority | Unset):  Default: 'interactive'.
            quality (JobCreateQualityType0 | None | Unset): check: the 202 carries `quality` {verdict, reasons, sharpness,
                brightness, glare_fraction}, and so does the job (GET /v1/jobs/{id}, webhooks); require: a photo to retake is
                refused (422 rescan_needed), an accepted one is kept with its verdict
            review (JobCreateReview | Unset): human review: auto (a job with a review reason opens one), always, off
                Default: 'auto'.
            review_below (float | None | Unset): confidence floor: a line or symbol read with less adds the review reason
                low_confidence (per page for documents); default: the tenant's, else OCRQ_REVIEW_BELOW
            target_lang (JobCreateTargetLangType0 | None | Unset):
            task (JobCreateTask | Unset): The tasks this deployment's engine can do (all: text, spotting, parse, table,
                formula, chart, fields, translate, ask, spotting_json, layout, layout_parse, barcodes) Default: 'text'.
            webhook_url (None | str | Unset):
     """

    source: SourceRef
    barcodes: JobCreateBarcodes | Unset = 'auto'
    fields: list[str] | None | Unset = UNSET
    instruction: None | str | Unset = UNSET
    metadata: JobCreateMetadata | Unset = UNSET
    pages: None | str | Unset = UNSET
    priority: JobCreatePriority | Unset = 'interactive'
    quality: JobCreateQualityType0 | None | Unset = UNSET
    review: JobCreateReview | Unset = 'auto'
    review_below: float | None | Unset = UNSET
    target_lang: JobCreateTargetLangType0 | None | Unset = UNSET
    task: JobCreateTask | Unset = 'text'
    webhook_url: None | str | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        from ..models.job_create_metadata import JobCreateMetadata # noqa: PLC0415
        from ..models.source_ref import SourceRef # noqa: PLC0415
        source = self.source.to_dict()

        barcodes: str | Unset = UNSET
        if not isinstance(self.barcodes, Unset):
            barcodes = self.barcodes


        fields: list[str] | None | Unset
        if isinstance(self.fields, Unset):
            fields = UNSET
        elif isinstance(self.fields, list):
            fields = self.fields


        else:
            fields = self.fields

        instruction: None | str | Unset
        if isinstance(self.instruction, Unset):
            instruction = UNSET
        else:
            instruction = self.instruction

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        pages: None | str | Unset
        if isinstance(self.pages, Unset):
            pages = UNSET
        else:
            pages = self.pages

        priority: str | Unset = UNSET
        if not isinstance(self.priority, Unset):
            priority = self.priority


        quality: None | str | Unset
        if isinstance(self.quality, Unset):
            quality = UNSET
        elif isinstance(self.quality, str):
            quality = self.quality
        else:
            quality = self.quality

        review: str | Unset = UNSET
        if not isinstance(self.review, Unset):
            review = self.review


        review_below: float | None | Unset
        if isinstance(self.review_below, Unset):
            review_below = UNSET
        else:
            review_below = self.review_below

        target_lang: None | str | Unset
        if isinstance(self.target_lang, Unset):
            target_lang = UNSET
        elif isinstance(self.target_lang, str):
            target_lang = self.target_lang
        else:
            target_lang = self.target_lang

        task: str | Unset = UNSET
        if not isinstance(self.task, Unset):
            task = self.task


        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "source": source,
        })
        if barcodes is not UNSET:
            field_dict["barcodes"] = barcodes
        if fields is not UNSET:
            field_dict["fields"] = fields
        if instruction is not UNSET:
            field_dict["instruction"] = instruction
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if pages is not UNSET:
            field_dict["pages"] = pages
        if priority is not UNSET:
            field_dict["priority"] = priority
        if quality is not UNSET:
            field_dict["quality"] = quality
        if review is not UNSET:
            field_dict["review"] = review
        if review_below is not UNSET:
            field_dict["review_below"] = review_below
        if target_lang is not UNSET:
            field_dict["target_lang"] = target_lang
        if task is not UNSET:
            field_dict["task"] = task
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.job_create_metadata import JobCreateMetadata # noqa: PLC0415
        from ..models.source_ref import SourceRef # noqa: PLC0415
        d = dict(src_dict)
        source = SourceRef.from_dict(d.pop("source"))


        _barcodes = d.pop("barcodes", UNSET)
        barcodes: JobCreateBarcodes | Unset
        if isinstance(_barcodes,  Unset):
            barcodes = UNSET
        else:
            barcodes = check_job_create_barcodes(_barcodes)


        def _parse_fields(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                fields_type_0 = cast(list[str], data)

                return fields_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        fields = _parse_fields(d.pop("fields", UNSET))


        def _parse_instruction(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instruction = _parse_instruction(d.pop("instruction", UNSET))


        _metadata = d.pop("metadata", UNSET)
        metadata: JobCreateMetadata | Unset
        if isinstance(_metadata,  Unset):
            metadata = UNSET
        else:
            metadata = JobCreateMetadata.from_dict(_metadata)


        def _parse_pages(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pages = _parse_pages(d.pop("pages", UNSET))


        _priority = d.pop("priority", UNSET)
        priority: JobCreatePriority | Unset
        if isinstance(_priority,  Unset):
            priority = UNSET
        else:
            priority = check_job_create_priority(_priority)


        def _parse_quality(data: object) -> JobCreateQualityType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                quality_type_0 = check_job_create_quality_type_0(data)


                return quality_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobCreateQualityType0 | None | Unset, data)

        quality = _parse_quality(d.pop("quality", UNSET))


        _review = d.pop("review", UNSET)
        review: JobCreateReview | Unset
        if isinstance(_review,  Unset):
            review = UNSET
        else:
            review = check_job_create_review(_review)


        def _parse_review_below(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        review_below = _parse_review_below(d.pop("review_below", UNSET))


        def _parse_target_lang(data: object) -> JobCreateTargetLangType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                target_lang_type_0 = check_job_create_target_lang_type_0(data)


                return target_lang_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobCreateTargetLangType0 | None | Unset, data)

        target_lang = _parse_target_lang(d.pop("target_lang", UNSET))


        _task = d.pop("task", UNSET)
        task: JobCreateTask | Unset
        if isinstance(_task,  Unset):
            task = UNSET
        else:
            task = check_job_create_task(_task)


        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))


        job_create = cls(
            source=source,
            barcodes=barcodes,
            fields=fields,
            instruction=instruction,
            metadata=metadata,
            pages=pages,
            priority=priority,
            quality=quality,
            review=review,
            review_below=review_below,
            target_lang=target_lang,
            task=task,
            webhook_url=webhook_url,
        )

        return job_create
