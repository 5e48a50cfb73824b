""" Contains all the data models used in inputs/outputs """

from .barcode_correction import BarcodeCorrection
from .batch_counts import BatchCounts
from .batch_create import BatchCreate
from .batch_create_output_format_type_0 import BatchCreateOutputFormatType0
from .batch_create_output_format_type_1_item import BatchCreateOutputFormatType1Item
from .batch_create_target_lang_type_0 import BatchCreateTargetLangType0
from .batch_failure import BatchFailure
from .batch_links import BatchLinks
from .batch_list import BatchList
from .batch_out import BatchOut
from .batch_out_params import BatchOutParams
from .batch_output import BatchOutput
from .batch_output_formats_item import BatchOutputFormatsItem
from .batch_source import BatchSource
from .cancel_job_purge import CancelJobPurge
from .corrections import Corrections
from .corrections_fields import CorrectionsFields
from .delivery import Delivery
from .delivery_event import DeliveryEvent
from .delivery_log import DeliveryLog
from .delivery_log_attempts_item import DeliveryLogAttemptsItem
from .delivery_target import DeliveryTarget
from .dry_run_failure import DryRunFailure
from .dry_run_out import DryRunOut
from .dry_run_output import DryRunOutput
from .dry_run_output_formats_item import DryRunOutputFormatsItem
from .dry_run_samples import DryRunSamples
from .endpoint_create import EndpointCreate
from .endpoint_create_events_item import EndpointCreateEventsItem
from .endpoint_list import EndpointList
from .endpoint_out import EndpointOut
from .endpoint_out_events_item import EndpointOutEventsItem
from .engine_info import EngineInfo
from .error_out import ErrorOut
from .export_out import ExportOut
from .export_out_records_item import ExportOutRecordsItem
from .failure_list import FailureList
from .get_job_result_format import GetJobResultFormat
from .gs_1_correction import Gs1Correction
from .health import Health
from .health_checks import HealthChecks
from .image_size import ImageSize
from .input_out import InputOut
from .job_create import JobCreate
from .job_create_barcodes import JobCreateBarcodes
from .job_create_metadata import JobCreateMetadata
from .job_create_priority import JobCreatePriority
from .job_create_quality_type_0 import JobCreateQualityType0
from .job_create_review import JobCreateReview
from .job_create_target_lang_type_0 import JobCreateTargetLangType0
from .job_create_task import JobCreateTask
from .job_list import JobList
from .job_out import JobOut
from .job_out_metadata import JobOutMetadata
from .job_out_params import JobOutParams
from .job_out_progress_type_0 import JobOutProgressType0
from .job_out_status import JobOutStatus
from .job_upload import JobUpload
from .job_upload_barcodes import JobUploadBarcodes
from .job_upload_priority import JobUploadPriority
from .job_upload_quality import JobUploadQuality
from .job_upload_review import JobUploadReview
from .job_upload_target_lang import JobUploadTargetLang
from .job_upload_task import JobUploadTask
from .line import Line
from .line_correction import LineCorrection
from .links import Links
from .list_jobs_priority import ListJobsPriority
from .list_jobs_status import ListJobsStatus
from .list_jobs_task import ListJobsTask
from .list_reviews_state import ListReviewsState
from .low_confidence_line import LowConfidenceLine
from .ocr_result import OcrResult
from .ocr_result_barcodes_type_0_item import OcrResultBarcodesType0Item
from .ocr_result_fields_type_0 import OcrResultFieldsType0
from .openapi_response_200 import OpenapiResponse200
from .output_in import OutputIn
from .page_error import PageError
from .page_result import PageResult
from .page_result_barcodes_type_0_item import PageResultBarcodesType0Item
from .page_result_fields_type_0 import PageResultFieldsType0
from .problem import Problem
from .problem_errors_type_0_item import ProblemErrorsType0Item
from .quality_out import QualityOut
from .quality_out_verdict import QualityOutVerdict
from .redeliver_out import RedeliverOut
from .replay_out import ReplayOut
from .replay_webhook_include_delivered import ReplayWebhookIncludeDelivered
from .retry_out import RetryOut
from .review_answer import ReviewAnswer
from .review_answer_diff_type_0_item import ReviewAnswerDiffType0Item
from .review_decision_in import ReviewDecisionIn
from .review_decision_in_decision import ReviewDecisionInDecision
from .review_item import ReviewItem
from .review_item_links import ReviewItemLinks
from .review_list import ReviewList
from .review_list_counts import ReviewListCounts
from .review_out import ReviewOut
from .review_out_decision_type_0 import ReviewOutDecisionType0
from .review_out_state import ReviewOutState
from .review_settings_in import ReviewSettingsIn
from .review_settings_out import ReviewSettingsOut
from .reviewer import Reviewer
from .secret_out import SecretOut
from .source_in import SourceIn
from .source_in_manifest_format_type_0 import SourceInManifestFormatType0
from .source_ref import SourceRef
from .timings import Timings

__all__ = (
    "BarcodeCorrection",
    "BatchCounts",
    "BatchCreate",
    "BatchCreateOutputFormatType0",
    "BatchCreateOutputFormatType1Item",
    "BatchCreateTargetLangType0",
    "BatchFailure",
    "BatchLinks",
    "BatchList",
    "BatchOut",
    "BatchOutParams",
    "BatchOutput",
    "BatchOutputFormatsItem",
    "BatchSource",
    "CancelJobPurge",
    "Corrections",
    "CorrectionsFields",
    "Delivery",
    "DeliveryEvent",
    "DeliveryLog",
    "DeliveryLogAttemptsItem",
    "DeliveryTarget",
    "DryRunFailure",
    "DryRunOut",
    "DryRunOutput",
    "DryRunOutputFormatsItem",
    "DryRunSamples",
    "EndpointCreate",
    "EndpointCreateEventsItem",
    "EndpointList",
    "EndpointOut",
    "EndpointOutEventsItem",
    "EngineInfo",
    "ErrorOut",
    "ExportOut",
    "ExportOutRecordsItem",
    "FailureList",
    "GetJobResultFormat",
    "Gs1Correction",
    "Health",
    "HealthChecks",
    "ImageSize",
    "InputOut",
    "JobCreate",
    "JobCreateBarcodes",
    "JobCreateMetadata",
    "JobCreatePriority",
    "JobCreateQualityType0",
    "JobCreateReview",
    "JobCreateTargetLangType0",
    "JobCreateTask",
    "JobList",
    "JobOut",
    "JobOutMetadata",
    "JobOutParams",
    "JobOutProgressType0",
    "JobOutStatus",
    "JobUpload",
    "JobUploadBarcodes",
    "JobUploadPriority",
    "JobUploadQuality",
    "JobUploadReview",
    "JobUploadTargetLang",
    "JobUploadTask",
    "Line",
    "LineCorrection",
    "Links",
    "ListJobsPriority",
    "ListJobsStatus",
    "ListJobsTask",
    "ListReviewsState",
    "LowConfidenceLine",
    "OcrResult",
    "OcrResultBarcodesType0Item",
    "OcrResultFieldsType0",
    "OpenapiResponse200",
    "OutputIn",
    "PageError",
    "PageResult",
    "PageResultBarcodesType0Item",
    "PageResultFieldsType0",
    "Problem",
    "ProblemErrorsType0Item",
    "QualityOut",
    "QualityOutVerdict",
    "RedeliverOut",
    "ReplayOut",
    "ReplayWebhookIncludeDelivered",
    "RetryOut",
    "ReviewAnswer",
    "ReviewAnswerDiffType0Item",
    "ReviewDecisionIn",
    "ReviewDecisionInDecision",
    "Reviewer",
    "ReviewItem",
    "ReviewItemLinks",
    "ReviewList",
    "ReviewListCounts",
    "ReviewOut",
    "ReviewOutDecisionType0",
    "ReviewOutState",
    "ReviewSettingsIn",
    "ReviewSettingsOut",
    "SecretOut",
    "SourceIn",
    "SourceInManifestFormatType0",
    "SourceRef",
    "Timings",
)
