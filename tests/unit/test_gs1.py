"""GS1 element strings and Digital Link URIs: named fields, check digits and dates validated, bad data kept."""

from __future__ import annotations

from shared.labels import gs1


def test_sscc_with_valid_check_digit_is_valid() -> None:
    r = gs1.parse("]C100095060000000001234")
    assert r is not None and r["valid"] and r["fields"] == {"sscc": "095060000000001234"}


def test_wrong_check_digit_is_kept_and_flagged() -> None:
    r = gs1.parse("]C100095060000000001237")
    assert r is not None and not r["valid"]
    assert r["fields"]["sscc"] == "095060000000001237"
    assert [e["code"] for e in r["errors"]] == ["check_digit"]


def test_impossible_dates_are_flagged_and_other_fields_still_read() -> None:
    for bad in ("260230", "261331"):
        r = gs1.parse_element_string(f"]C10109506000134352 17{bad}10LOT42A".replace(" ", ""))
        assert not r["valid"] and [e["code"] for e in r["errors"]] == ["invalid_date"]
        assert r["fields"] == {"gtin": "09506000134352", "expiry_date": bad, "batch_lot": "LOT42A"}


def test_weights_keep_their_decimals_and_counts_are_numbers() -> None:
    r = gs1.parse_element_string("]C1010950600013435210AB12\x1d3103001250\x1d3716")
    assert r["valid"] and r["fields"] == {"gtin": "09506000134352", "batch_lot": "AB12", "net_weight_kg": "1.250",
                                          "count": 16}


def test_expiry_is_an_iso_date_and_hri_round_trips() -> None:
    r = gs1.parse("(01)09506000134352(17)261231(10)LOT42A")
    assert r is not None and r["fields"]["expiry_date"] == "2026-12-31"
    assert gs1.to_hri(r) == "(01)09506000134352(17)261231(10)LOT42A"


def test_digital_link_fields_and_bad_date_flagged() -> None:
    good = gs1.parse("https://id.gs1.org/01/09506000134352/10/ABC123?17=201225")
    assert good is not None and good["valid"] and good["kind"] == "digital_link"
    assert good["fields"] == {"gtin": "09506000134352", "batch_lot": "ABC123", "expiry_date": "2020-12-25"}
    bad = gs1.parse("https://id.gs1.org/01/09506000134352/10/ABC123?17=201232")
    assert bad is not None and not bad["valid"] and bad["errors"][0]["code"] == "invalid_date"
    assert bad["fields"]["batch_lot"] == "ABC123"


def test_unparseable_data_is_flagged_not_raised() -> None:
    r = gs1.parse("]C1garbage")
    assert r is not None and not r["valid"] and r["errors"][0]["code"] == "unknown_ai" and r["raw"] == "]C1garbage"
    assert gs1.parse("https://example.com/not/gs1") is None
    assert gs1.parse("plain text") is None


def test_gtin_from_ean() -> None:
    assert gs1.parse_gtin("4006381333931")["fields"] == {"gtin": "04006381333931"}
    assert gs1.parse_gtin("4006381333932")["errors"][0]["code"] == "check_digit"
