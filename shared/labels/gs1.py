"""GS1 data read from barcodes: element strings (GS1-128, GS1 DataMatrix, GS1 QR) and Digital Link URIs.

biip does the interpretation (AI table, check digits, dates, decimals). Where biip rejects a message as a
whole (one bad date stops its parser) we walk the element strings ourselves so that everything readable is
still reported: a label with a bad field must reach a human with that field flagged, never vanish.

The result is a plain JSON-ready dict::

    {"valid": bool, "kind": "element_string" | "digital_link" | "gtin",
     "fields": {"sscc": ..., "gtin": ..., "expiry_date": "2026-12-31", "net_weight_kg": "1.250", ...},
     "elements": [{"ai": "17", "title": "USE BY or EXPIRY", "value": "2026-12-31", "data": "261231"}, ...],
     "errors": [{"code": "check_digit" | "invalid_date" | "invalid_format" | "unknown_ai" | "not_gs1",
                 "ai": "00" | None, "message": "..."}],
     "raw": "<the data as read>"}
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from biip import ParseConfig, ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gtin import Gtin

GS = "\x1d"  # FNC1 as a field separator inside a GS1 message

# Symbology identifiers whose data is a GS1 element string (ISO/IEC 15424 and GS1 General Specifications 5.1.2).
GS1_SYMBOLOGY_IDS = ("]C1", "]d2", "]Q3", "]e0", "]J1", "]Z1", "]z1")

_STRICT = ParseConfig()
_LENIENT_DATES = ParseConfig(gs1_element_strings_verify_date=False)

# Application identifiers whose value is a date (YYMMDD, day 00 = last day of the month).
_DATE_AIS = {"11", "12", "13", "15", "16", "17", "4324", "4325", "4326", "7003", "7006", "7007", "7011", "8008"}

# The names a warehouse system asks for; every AI also appears in "elements" whatever its name.
_FIELD_NAMES = {
    "00": "sscc",
    "01": "gtin",
    "02": "content_gtin",
    "10": "batch_lot",
    "11": "production_date",
    "12": "due_date",
    "13": "packaging_date",
    "15": "best_before_date",
    "16": "sell_by_date",
    "17": "expiry_date",
    "20": "variant",
    "21": "serial",
    "22": "consumer_product_variant",
    "240": "additional_id",
    "241": "customer_part_number",
    "250": "secondary_serial",
    "30": "variable_count",
    "37": "count",
    "400": "order_number",
    "401": "consignment_number",
    "402": "shipment_id",
    "403": "routing_code",
    "410": "ship_to_gln",
    "411": "bill_to_gln",
    "412": "purchased_from_gln",
    "413": "ship_for_gln",
    "414": "location_gln",
    "415": "invoicing_party_gln",
    "416": "production_gln",
    "420": "ship_to_postal_code",
    "421": "ship_to_postal_code_iso",
    "422": "origin_country",
    "7003": "expiry_datetime",
}
# Variable-measure AIs: the 4th digit is the number of decimal places; names carry the unit.
_MEASURE_NAMES = {
    "310": "net_weight_kg",
    "311": "length_m",
    "312": "width_m",
    "313": "height_m",
    "314": "area_m2",
    "315": "net_volume_l",
    "316": "net_volume_m3",
    "320": "net_weight_lb",
    "330": "gross_weight_kg",
    "331": "logistic_length_m",
    "332": "logistic_width_m",
    "333": "logistic_height_m",
    "334": "logistic_area_m2",
    "335": "logistic_volume_l",
    "336": "logistic_volume_m3",
    "340": "gross_weight_lb",
}
_INT_FIELDS = {"30", "37"}


def _error(code: str, ai: str | None, message: str) -> dict[str, Any]:
    return {"code": code, "ai": ai, "message": message}


def _check_code(message: str) -> str:
    return "check_digit" if "check digit" in message.lower() else "invalid_format"


def _field_name(ai: str) -> str:
    if ai in _FIELD_NAMES:
        return _FIELD_NAMES[ai]
    if len(ai) == 4 and ai[:3] in _MEASURE_NAMES:
        return _MEASURE_NAMES[ai[:3]]
    return f"ai_{ai}"


def _element_value(es: GS1ElementString) -> Any:
    """The JSON value of one element: ISO dates, decimals as strings (their decimal places are data), counts."""
    if es.datetime is not None and es.ai.ai in ("7003", "8008"):
        return es.datetime.isoformat()
    if es.date is not None:
        return es.date.isoformat()
    if es.decimal is not None:
        return str(es.decimal)
    if es.ai.ai in _INT_FIELDS and es.value.isdigit():
        return int(es.value)
    return es.value


def _element_errors(es: GS1ElementString) -> list[dict[str, Any]]:
    errors = []
    for message in (es.sscc_error, es.gtin_error, es.gln_error):
        if message:
            errors.append(_error(_check_code(message), es.ai.ai, message))
    return errors


def _measure_decimal(ai: str, digits: str) -> str | None:
    if len(ai) == 4 and ai[:3] in _MEASURE_NAMES and digits.isdigit() and ai[3].isdigit():
        places = int(ai[3])
        units, decimals = digits[: len(digits) - places], digits[len(digits) - places :]
        return str(Decimal(f"{units or '0'}.{decimals}")) if places else str(int(digits))
    return None


def _fixed_length(ai: GS1ApplicationIdentifier) -> int | None:
    """The data length of a predefined-length AI ("N2+N6" -> 6); None for variable-length ones."""
    if ai.separator_required:
        return None
    parts = ai.format.split("+")[1:]
    total = 0
    for part in parts:
        m = re.fullmatch(r"[NXYZ](\d+)", part)
        if not m:
            return None
        total += int(m.group(1))
    return total


def _walk(message: str) -> tuple[list[GS1ElementString | tuple[str, str]], list[dict[str, Any]]]:
    """Split an element string one element at a time, keeping bad elements as (ai, raw value)."""
    items: list[GS1ElementString | tuple[str, str]] = []
    errors: list[dict[str, Any]] = []
    rest = message
    while rest:
        try:
            ai = GS1ApplicationIdentifier.extract(rest)
        except ParseError as err:
            errors.append(_error("unknown_ai", None, str(err)))
            items.append(("?", rest))
            break
        try:
            es = GS1ElementString.extract(rest, config=_STRICT)
            items.append(es)
            consumed = len(es)
        except ParseError as err:
            # Keep what the element says, flagged: a wrong date or a malformed value is for a human to see.
            length = _fixed_length(ai)
            body = rest[len(ai.ai) :]
            value = body[:length] if length is not None else body.split(GS, 1)[0]
            code = "invalid_date" if ai.ai in _DATE_AIS else "invalid_format"
            errors.append(_error(code, ai.ai, str(err)))
            items.append((ai.ai, value))
            consumed = len(ai.ai) + len(value)
        rest = rest[consumed:]
        while rest.startswith(GS):
            rest = rest[1:]
    return items, errors


def _result(kind: str, raw: str, items: list[Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    elements: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, GS1ElementString):
            ai, title, data, value = item.ai.ai, item.ai.data_title, item.value, _element_value(item)
            errors.extend(_element_errors(item))
        else:
            ai, data = item
            title = _title(ai) or ""
            decimal = _measure_decimal(ai, data)
            value = decimal if decimal is not None else data
        # "data" is the element's characters as encoded, which is what the printed HRI shows.
        elements.append({"ai": ai, "title": title, "value": value, "data": data})
        if ai != "?":
            fields.setdefault(_field_name(ai), value)
    return {"valid": not errors, "kind": kind, "fields": fields, "elements": elements, "errors": errors, "raw": raw}


def _title(ai: str) -> str | None:
    try:
        return GS1ApplicationIdentifier.extract(ai).data_title
    except ParseError:
        return None


def _invalid(kind: str, raw: str, code: str, message: str) -> dict[str, Any]:
    return {"valid": False, "kind": kind, "fields": {}, "elements": [], "errors": [_error(code, None, message)],
            "raw": raw}


def parse_element_string(data: str) -> dict[str, Any]:
    """A GS1 message (``]C1``/``]d2``/``]Q3`` prefix optional, FNC1 as GS, or HRI with parentheses)."""
    raw = data
    for prefix in GS1_SYMBOLOGY_IDS:
        if data.startswith(prefix):
            data = data[len(prefix) :]
            break
    data = data.strip().lstrip(GS)
    if data.startswith("("):
        data = _hri_to_message(data)
    if not data:
        return _invalid("element_string", raw, "invalid_format", "empty GS1 message")
    try:
        items, errors = _walk(data)
    except Exception as err:  # biip is third-party code: a surprise there must not lose the barcode
        return _invalid("element_string", raw, "invalid_format", f"GS1 message not readable: {err}")
    return _result("element_string", raw, list(items), errors)


def _hri_to_message(hri: str) -> str:
    """``(01)0950...(10)AB`` -> ``0109...10AB`` with GS after variable-length values."""
    parts = re.findall(r"\((\d{2,4})\)([^(]*)", hri)
    out = []
    for ai, value in parts:
        out.append(ai + value.strip())
        try:
            if GS1ApplicationIdentifier.extract(ai).separator_required:
                out.append(GS)
        except ParseError:
            out.append(GS)
    return "".join(out).rstrip(GS)


def is_digital_link(text: str) -> bool:
    """A URI whose path carries a GS1 primary key (``/01/<gtin>``, ``/00/<sscc>``, ...)."""
    return bool(re.match(r"^https?://[^/]+(/[^?#]*)?/(00|01|253|255|401|402|414|417|8003|8004|8006|8010|8017|8018)/",
                         text.strip()))


def parse_digital_link(uri: str) -> dict[str, Any]:
    uri = uri.strip()
    try:
        dl = GS1DigitalLinkURI.parse(uri, config=_STRICT)
        return _result("digital_link", uri, list(dl.element_strings), [])
    except Exception as strict_err:
        # A bad date or check digit stops biip's URI parser: read the AI/value pairs ourselves and flag each.
        pairs = _uri_pairs(uri)
        if not pairs:
            return _invalid("digital_link", uri, "invalid_format", f"GS1 Digital Link not readable: {strict_err}")
        items, errors = _walk(GS.join(ai + value for ai, value in pairs))
        return _result("digital_link", uri, list(items), errors)


def _uri_pairs(uri: str) -> list[tuple[str, str]]:
    parts = urlsplit(uri)
    segments = [unquote(seg) for seg in parts.path.split("/") if seg]
    pairs = []
    # The primary key and qualifiers are the trailing /ai/value pairs; anything before them is a custom path.
    i = len(segments) - 2
    found: list[tuple[str, str]] = []
    while i >= 0 and segments[i].isdigit():
        found.insert(0, (segments[i], segments[i + 1]))
        i -= 2
    pairs.extend(found)
    pairs.extend((k, v) for k, v in parse_qsl(parts.query) if k.isdigit())
    return pairs


def parse_gtin(digits: str) -> dict[str, Any]:
    """An EAN/UPC or ITF-14 symbol's data as a GTIN (reported as the 14-digit form used in AI 01)."""
    try:
        gtin = Gtin.parse(digits, config=_STRICT)
    except ParseError as err:
        return {"valid": False, "kind": "gtin", "fields": {"gtin": digits.zfill(14)},
                "elements": [{"ai": "01", "title": "GTIN", "value": digits.zfill(14), "data": digits}],
                "errors": [_error(_check_code(str(err)), "01", str(err))], "raw": digits}
    value = gtin.as_gtin_14()
    return {"valid": True, "kind": "gtin", "fields": {"gtin": value},
            "elements": [{"ai": "01", "title": "GTIN", "value": value, "data": digits}], "errors": [],
            "raw": digits}


def parse(data: str) -> dict[str, Any] | None:
    """Best-effort GS1 reading of any barcode text: None when it is not GS1 data at all."""
    text = data.strip()
    if text.startswith(GS1_SYMBOLOGY_IDS) or text.startswith("("):
        return parse_element_string(text)
    if is_digital_link(text):
        return parse_digital_link(text)
    return None


def to_hri(result: dict[str, Any]) -> str:
    """``(00)1234...(10)AB``: the human-readable interpretation printed under a GS1 symbol."""
    return "".join(f"({e['ai']}){e['data']}" for e in result.get("elements", []) if e["ai"] != "?")
