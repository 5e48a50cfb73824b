from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.review_item_links import ReviewItemLinks
  from ..models.review_out import ReviewOut


T = TypeVar("T", bound="ReviewItem")


@_attrs_define
class ReviewItem:
    """
        Attributes:
            created_at (str):
            job_id (str):
            links (ReviewItemLinks):
            review (ReviewOut): The review block of a job (its status stays succeeded).
            task (str):
            batch_id (None | str | Unset):
     """

    created_at: str
    job_id: str
    links: ReviewItemLinks
    review: ReviewOut
    task: str
    batch_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.review_item_links import ReviewItemLinks # noqa: PLC0415
        from ..models.review_out import ReviewOut # noqa: PLC0415
        created_at = self.created_at

        job_id = self.job_id

        links = self.links.to_dict()

        review = self.review.to_dict()

        task = self.task

        batch_id: None | str | Unset
        if isinstance(self.batch_id, Unset):
            batch_id = UNSET
        else:
            batch_id = self.batch_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "created_at": created_at,
            "job_id": job_id,
            "links": links,
            "review": review,
            "task": task,
        })
        if batch_id is not UNSET:
            field_dict["batch_id"] = batch_id

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.review_item_links import ReviewItemLinks # noqa: PLC0415
        from ..models.review_out import ReviewOut # noqa: PLC0415
        d = dict(src_dict)
        created_at = d.pop("created_at")

        job_id = d.pop("job_id")

        links = ReviewItemLinks.from_dict(d.pop("links"))


        review = ReviewOut.from_dict(d.pop("review"))


        task = d.pop("task")

        def _parse_batch_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        batch_id = _parse_batch_id(d.pop("batch_id", UNSET))


        review_item = cls(
            created_at=created_at,
            job_id=job_id,
            links=links,
            review=review,
            task=task,
            batch_id=batch_id,
        )


        review_item.additional_properties = d
        return review_item

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
