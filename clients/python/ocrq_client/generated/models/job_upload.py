from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field
import json
from .. import types

from ..types import UNSET, Unset

from ..models.job_upload_barcodes import check_job_upload_barcodes
from ..models.job_upload_barcodes import JobUploadBarcodes
from ..models.job_upload_priority import check_job_upload_priority
from ..models.job_upload_priority import JobUploadPriority
from ..models.job_upload_quality import check_job_upload_quality
from ..models.job_upload_quality import JobUploadQuality
from ..models.job_upload_review import check_job_upload_review
from ..models.job_upload_review import JobUploadReview
from ..models.job_upload_target_lang import check_job_upload_target_lang
from ..models.job_upload_target_lang import JobUploadTargetLang
from ..models.job_upload_task import check_job_upload_task
from ..models.job_upload_task import JobUploadTask
from ..types import File, FileTypes
from ..types import UNSET, Unset
from io import BytesIO
from typing import cast


T = TypeVar("T", bound="JobUpload")


@_attrs_define
class JobUpload:
    """ multipart/form-data body of POST /v1/jobs: the file, and the options as form fields (an empty
    field is an absent one; `fields` and `metadata` are JSON text).

        Attributes:
            file (File): One image (jpeg, png, webp, bmp or tiff) or a PDF
            barcodes (JobUploadBarcodes | Unset): decode barcodes beside the task: auto (on for images), on, off Default:
                'auto'.
            fields (str | Unset): task 'fields': the names to read (a form field: a JSON list or comma-separated names)
            instruction (str | Unset):
            metadata (str | Unset): A JSON object (at most 4096 bytes), echoed back
            pages (str | Unset): PDF or multi-page TIFF: the pages to read, 1-based, e.g. "1-3,7" (default: all)
            priority (JobUploadPriority | Unset):  Default: 'interactive'.
            quality (JobUploadQuality | Unset): check: the 202 carries `quality` {verdict, reasons, sharpness, brightness,
                glare_fraction}, and so does the job (GET /v1/jobs/{id}, webhooks); require: a photo to retake is refused (422
                rescan_needed), an accepted one is kept with its verdict
            review (JobUploadReview | Unset): human review: auto (a job with a review reason opens one), always, off
                Default: 'auto'.
            review_below (str | Unset): confidence floor: a line or symbol read with less adds the review reason
                low_confidence (per page for documents); default: the tenant's, else OCRQ_REVIEW_BELOW
            target_lang (JobUploadTargetLang | Unset):
            task (JobUploadTask | Unset): The tasks this deployment's engine can do (all: text, spotting, parse, table,
                formula, chart, fields, translate, ask, spotting_json, layout, layout_parse, barcodes) Default: 'text'.
            webhook_url (str | Unset):
     """

    file: File
    barcodes: JobUploadBarcodes | Unset = 'auto'
    fields: str | Unset = UNSET
    instruction: str | Unset = UNSET
    metadata: str | Unset = UNSET
    pages: str | Unset = UNSET
    priority: JobUploadPriority | Unset = 'interactive'
    quality: JobUploadQuality | Unset = UNSET
    review: JobUploadReview | Unset = 'auto'
    review_below: str | Unset = UNSET
    target_lang: JobUploadTargetLang | Unset = UNSET
    task: JobUploadTask | Unset = 'text'
    webhook_url: str | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        file = self.file.to_tuple()


        barcodes: str | Unset = UNSET
        if not isinstance(self.barcodes, Unset):
            barcodes = self.barcodes


        fields = self.fields

        instruction = self.instruction

        metadata = self.metadata

        pages = self.pages

        priority: str | Unset = UNSET
        if not isinstance(self.priority, Unset):
            priority = self.priority


        quality: str | Unset = UNSET
        if not isinstance(self.quality, Unset):
            quality = self.quality


        review: str | Unset = UNSET
        if not isinstance(self.review, Unset):
            review = self.review


        review_below = self.review_below

        target_lang: str | Unset = UNSET
        if not isinstance(self.target_lang, Unset):
            target_lang = self.target_lang


        task: str | Unset = UNSET
        if not isinstance(self.task, Unset):
            task = self.task


        webhook_url = self.webhook_url


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "file": file,
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


    def to_multipart(self) -> types.RequestFiles:
        files: types.RequestFiles = []

        files.append(("file", self.file.to_tuple()))


        if not isinstance(self.barcodes, Unset):
            files.append(("barcodes", (None, str(self.barcodes).encode(), "text/plain")))


        if not isinstance(self.fields, Unset):
            files.append(("fields", (None, str(self.fields).encode(), "text/plain")))


        if not isinstance(self.instruction, Unset):
            files.append(("instruction", (None, str(self.instruction).encode(), "text/plain")))


        if not isinstance(self.metadata, Unset):
            files.append(("metadata", (None, str(self.metadata).encode(), "text/plain")))


        if not isinstance(self.pages, Unset):
            files.append(("pages", (None, str(self.pages).encode(), "text/plain")))


        if not isinstance(self.priority, Unset):
            files.append(("priority", (None, str(self.priority).encode(), "text/plain")))


        if not isinstance(self.quality, Unset):
            files.append(("quality", (None, str(self.quality).encode(), "text/plain")))


        if not isinstance(self.review, Unset):
            files.append(("review", (None, str(self.review).encode(), "text/plain")))


        if not isinstance(self.review_below, Unset):
            files.append(("review_below", (None, str(self.review_below).encode(), "text/plain")))


        if not isinstance(self.target_lang, Unset):
            files.append(("target_lang", (None, str(self.target_lang).encode(), "text/plain")))


        if not isinstance(self.task, Unset):
            files.append(("task", (None, str(self.task).encode(), "text/plain")))


        if not isinstance(self.webhook_url, Unset):
            files.append(("webhook_url", (None, str(self.webhook_url).encode(), "text/plain")))


        return files


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        file = File(
             payload = BytesIO(d.pop("file"))
        )


        _barcodes = d.pop("barcodes", UNSET)
        barcodes: JobUploadBarcodes | Unset
        if isinstance(_barcodes,  Unset):
            barcodes = UNSET
        else:
            barcodes = check_job_upload_barcodes(_barcodes)


        fields = d.pop("fields", UNSET)

        instruction = d.pop("instruction", UNSET)

        metadata = d.pop("metadata", UNSET)

        pages = d.pop("pages", UNSET)

        _priority = d.pop("priority", UNSET)
        priority: JobUploadPriority | Unset
        if isinstance(_priority,  Unset):
            priority = UNSET
        else:
            priority = check_job_upload_priority(_priority)


        _quality = d.pop("quality", UNSET)
        quality: JobUploadQuality | Unset
        if isinstance(_quality,  Unset):
            quality = UNSET
        else:
            quality = check_job_upload_quality(_quality)


        _review = d.pop("review", UNSET)
        review: JobUploadReview | Unset
        if isinstance(_review,  Unset):
            review = UNSET
        else:
            review = check_job_upload_review(_review)


        review_below = d.pop("review_below", UNSET)

        _target_lang = d.pop("target_lang", UNSET)
        target_lang: JobUploadTargetLang | Unset
        if isinstance(_target_lang,  Unset):
            target_lang = UNSET
        else:
            target_lang = check_job_upload_target_lang(_target_lang)


        _task = d.pop("task", UNSET)
        task: JobUploadTask | Unset
        if isinstance(_task,  Unset):
            task = UNSET
        else:
            task = check_job_upload_task(_task)


        webhook_url = d.pop("webhook_url", UNSET)

        job_upload = cls(
            file=file,
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

        return job_upload
