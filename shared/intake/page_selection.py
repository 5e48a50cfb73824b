"""The `pages` option of a document job: "1-3,7" read against the document's page count."""

from __future__ import annotations

from shared.intake.documents import InvalidPages

MAX_PAGES_SPEC_CHARS = 1000


def parse_pages(spec: str | None, total: int) -> list[int]:
    """Pages selected by a print-dialog spec such as "1-3, 7" (1-based), sorted, without duplicates.

    None or a blank spec selects every page. Raises InvalidPages for malformed or out-of-range specs.
    """
    if spec is None or not spec.strip():
        return list(range(1, total + 1))
    if len(spec) > MAX_PAGES_SPEC_CHARS:
        raise InvalidPages(f"pages: at most {MAX_PAGES_SPEC_CHARS} characters")
    selected: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip()
        first_s, dash, last_s = item.partition("-")
        first, last = _page_number(first_s, item), _page_number(last_s, item) if dash else None
        if last is None:
            last = first
        if last < first:
            raise InvalidPages(f"pages: the range {item!r} runs backwards")
        if last > total:
            raise InvalidPages(f"pages: {item!r} is out of range; the document has {total} page(s)")
        selected.update(range(first, last + 1))
    return sorted(selected)


def _page_number(text: str, item: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise InvalidPages(f'pages: {item!r} is not a page number or a range like 1-3 (use e.g. "1-3,7")')
    number = int(text)
    if number < 1:
        raise InvalidPages(f"pages: page numbers start at 1 (got {item!r})")
    return number
