"""The console's review screens (issue 25, docs/reviews.md) in a real headless Chromium against a real gateway
and worker: the whole review flow by keyboard alone, at a desktop and at a tablet size.

Four jobs are reviewed in queue order: a label whose SSCC has a wrong check digit (corrected with Ctrl+Enter,
after the server refused a second wrong digit next to the field), a receipt with lines under the confidence
floor (Tab walks its flagged lines; J / K; Enter approves), a label with an impossible date (rejected), and a
label another reviewer (Rita) holds (the 409 says by whom and until when). Each outcome is checked through the
REST API. Screenshots go to test-output/ (git-ignored); docs/img/console-review-*.png are copies (256 colours).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import RECEIPTS, ROOT
from test_console_browser import JOB_TIMEOUT_MS, Console, _focused, _tab_to, browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

RECEIPT = RECEIPTS / "000.jpg"
FLOOR = "0.9"  # the receipt's lines read with less confidence than this are flagged
SIZES = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "tablet": {"viewport": {"width": 820, "height": 1180}, "is_mobile": True, "has_touch": True},
}


def _labels() -> dict:
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_labels as ml

    return ml


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _new_key(svc, name: str) -> str:
    """A second reviewer of the same tenant, made as an operator does (`ocrq keys create`)."""
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "keys", "create", "--tenant", svc.tenant, "--name", name,
         "--scope", "review"],
        env=svc.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return re.search(r"^key:\s+(\S+)", out, re.M).group(1)


def _back_to(page, name: str, most: int = 8) -> None:
    for _ in range(most):
        page.keyboard.press("Shift+Tab")
        if _focused(page) == name:
            return
    raise AssertionError(f"Shift+Tab never reached {name!r}")


def _active(page, what: str) -> str | None:
    return page.evaluate(f"(() => {{ const el = document.activeElement; return el ? el.{what} : null; }})()")


@pytest.mark.parametrize("size", ["desktop", "tablet"])
def test_review_flow_by_keyboard_alone(module_service, browser, output_dir, size):  # noqa: F811
    ml = _labels()
    labels = {name: im for name, im, _ in ml.labels()}
    svc = module_service().for_new_tenant()
    api = requests.Session()
    api.headers.update(svc.headers())

    def submit(data: bytes | Path, name: str, **form: str) -> dict:
        r = svc.submit(data, name=name, **form)
        assert r.status_code == 202, r.text
        job = svc.wait(r.json()["id"], timeout=JOB_TIMEOUT_MS / 1000)
        for _ in range(100):  # the review opens in the job's finished-hook, just after `succeeded` shows
            if job.get("review"):
                break
            time.sleep(0.1)
            job = api.get(f"{svc.url}/v1/jobs/{job['id']}", timeout=10).json()
        assert job["status"] == "succeeded" and job["review"]["state"] == "open", job
        return job

    # Submitted one after the other, so the queue (oldest first) is A, B, C; D is held by Rita.
    a = submit(_png(labels["fault_check_digit"]), "a.png", task="barcodes")
    b = submit(RECEIPT, "receipt.jpg", review_below=FLOOR)
    c = submit(_png(labels["fault_impossible_date"]), "c.png", task="barcodes")
    d = submit(_png(labels["fault_check_digit"]), "d.png", task="barcodes")
    assert a["review"]["reasons"] == ["check_digit"] and c["review"]["reasons"] == ["invalid_date"]
    low = b["review"]["low_confidence"]
    assert b["review"]["reasons"] == ["low_confidence"] and len(low) >= 2, b["review"]
    rita = _new_key(svc, "Rita")
    held = requests.post(f"{svc.url}/v1/jobs/{d['id']}/review/claim", headers=svc.headers(rita), timeout=10)
    assert held.status_code == 200, held.text
    lease_until = held.json()["review"]["lease_until"]

    tab = Console(browser, svc.url, **SIZES[size])
    page = tab.page
    width = SIZES[size]["viewport"]["width"]
    shot = lambda name: page.screenshot(path=str(output_dir / f"console-review-{size}-{name}.png"))  # noqa: E731

    def review(job_id: str) -> dict:
        return api.get(f"{svc.url}/v1/jobs/{job_id}/review", timeout=10).json()["review"]

    def on_review(job_id: str) -> None:
        page.wait_for_url(f"**/#/reviews/{job_id}")
        # this job's screen, not the previous one still shown while this one claims and loads
        page.locator(f"[data-job='{job_id}'] .claim-card.claim-mine, [data-job='{job_id}'] .claim-card.claim-other").wait_for()

    # --- sign in and reach the queue with the keyboard
    page.goto("/")
    page.keyboard.type(svc.api_key)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="New job").wait_for()
    _back_to(page, "Review")  # the main navigation is just before the heading
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Review queue").wait_for()
    rows = page.locator("tr.review-row")
    rows.nth(2).wait_for()
    assert [rows.nth(i).get_attribute("data-job-id") for i in range(rows.count())] == [a["id"], b["id"], c["id"]]
    counts = {el.get_attribute("data-reason"): el.locator(".count-n").inner_text()
              for el in page.locator(".count-chip").all()}
    assert counts == {"check_digit": "1", "low_confidence": "1", "invalid_date": "1"}  # D is claimed: not open
    assert "Low confidence · " in rows.nth(1).inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot("queue")

    # --- A: J picks the first job, Enter opens it and claims it
    page.keyboard.press("j")
    assert _active(page, "closest('tr').dataset.jobId") == a["id"]
    page.keyboard.press("Enter")
    on_review(a["id"])
    assert "You are reviewing this job" in page.locator(".claim-card").inner_text()
    assert review(a["id"])["state"] == "claimed"
    page.locator(".figure.loaded").wait_for()
    assert page.locator(".overlay .barcode-box.flagged").count() == 1
    sscc = page.locator(".review-input.flagged")
    assert sscc.count() == 1 and sscc.input_value() == a["result"]["barcodes"][0]["gs1"]["elements"][0]["data"]
    assert "check digit" in page.locator(".review-item.is-flagged .item-note").inner_text()
    # Tab goes to the flagged value; a second wrong digit is caught while typing, by the server's rules...
    page.keyboard.press("Tab")
    assert _active(page, "dataset.kind") == "gs1"
    printed = sscc.input_value()
    wrong = ml.SSCC[:17] + next(d for d in "0123456789" if d not in (ml.SSCC[17], printed[17]))
    page.keyboard.type(wrong)  # the focus selected the old value: typing replaces it
    note = page.locator(".review-item.is-flagged .item-note")
    page.locator(".review-item.is-flagged .item-note", has_text="Expected").wait_for()  # biip's words, from the server
    assert note.get_attribute("class").split() == ["item-note", "bad"]
    # ...and Ctrl+Enter sends it anyway: the server's 422 shows next to that field, nothing is resolved
    page.keyboard.press("Control+Enter")
    page.locator(".item-note.from-server").wait_for()
    assert "check digit" in note.inner_text() and "invalid" in note.inner_text().lower()
    assert page.locator(".save-error").is_visible()
    assert review(a["id"])["state"] == "claimed"
    shot("refused")
    page.keyboard.press("Control+a")
    page.keyboard.type(ml.SSCC)
    page.locator(".review-item.is-flagged .item-note", has_text=re.compile("^Valid")).wait_for()
    page.keyboard.press("Control+Enter")

    # --- B: the receipt opens next; its low-confidence lines are flagged, on the image and in the list
    on_review(b["id"])
    done = review(a["id"])
    assert (done["state"], done["decision"], done["revision"]) == ("resolved", "correct", 2)
    fixed = api.get(f"{svc.url}/v1/jobs/{a['id']}/result", timeout=10).json()
    assert fixed["revision"] == 2 and fixed["barcodes"][0]["gs1"]["fields"]["sscc"] == ml.SSCC
    page.locator(".figure.loaded").wait_for()
    assert page.locator(".overlay .ocr-box").count() == len(b["result"]["lines"])
    assert page.locator(".overlay .ocr-box.flagged").count() == len(low)
    flagged = page.locator(".review-input.flagged")
    assert flagged.count() == len(low)
    assert page.locator(".review-input").count() == len(b["result"]["lines"])
    page.keyboard.press("Tab")
    assert _active(page, "value") == b["result"]["lines"][low[0]["line"]]["text"]
    page.keyboard.press("Tab")
    assert _active(page, "value") == b["result"]["lines"][low[1]["line"]]["text"]
    # the focused line's box is the selected one
    selected = page.locator(".overlay .ocr-box.selected")
    assert selected.count() == 1 and "flagged" in selected.get_attribute("class")
    page.evaluate("window.scrollTo(0, 0)")
    shot("lines")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # J / K: next and previous job of the queue (Esc leaves the field first)
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    on_review(c["id"])
    page.keyboard.press("k")
    on_review(b["id"])
    page.locator(".review-input").first.wait_for()
    page.keyboard.press("Enter")  # nothing changed: Enter approves

    # --- C: the impossible date; rejected with the keyboard (Tab past the flagged value to Reject)
    on_review(c["id"])
    assert review(b["id"])["decision"] == "approve"
    page.keyboard.press("Tab")
    assert _active(page, "dataset.kind") == "gs1"
    assert "17" in page.locator(".review-item.is-flagged label").inner_text()
    _tab_to(page, "Reject…")
    page.keyboard.press("Enter")
    assert _active(page, "id") == "reject-reason"
    _tab_to(page, "Reject the result")
    page.keyboard.press("Enter")
    # the queue is empty now: back to it
    page.wait_for_url("**/#/reviews")
    page.get_by_text("No open reviews.").wait_for()
    rejected = review(c["id"])
    assert (rejected["decision"], rejected["reject_reason"]) == ("reject", "rescan")

    # --- D: claimed by Rita; the state filter by keyboard, and her claim said in words
    _tab_to(page, "review-state")
    page.keyboard.press("ArrowDown")
    assert page.locator("#review-state").input_value() == "claimed"
    row = page.locator(f'tr.review-row[data-job-id="{d["id"]}"]')
    row.wait_for()
    assert "Rita until" in row.inner_text()
    _tab_to(page, d["id"])  # past the other filters and the counts, to the row's link
    page.keyboard.press("Enter")
    on_review(d["id"])
    card = page.locator(".claim-card.claim-other")
    assert "Claimed by Rita until" in card.inner_text() and "(key_" in card.inner_text()  # the 409's detail too
    shown_until = page.evaluate(
        f"new Date({lease_until!r}).toLocaleTimeString(undefined, {{hour: '2-digit', minute: '2-digit'}})")
    assert shown_until in card.inner_text()
    assert page.locator(".review-input:enabled").count() == 0 and page.locator(".approve").is_disabled()
    page.keyboard.press("Enter")  # approving someone else's claim is refused in words, nothing is sent
    assert "Rita holds this review" in page.locator(".save-error").inner_text()
    assert review(d["id"])["claimed_by"]["name"] == "Rita"
    shot("claimed")

    if size == "tablet":  # thumb-sized targets, nothing wider than the screen
        page.goto(f"/#/reviews/{b['id']}")
        page.locator(".claim-card").wait_for()
        for sel in (".review-input", "#review-note", ".approve", ".save"):
            box = page.locator(sel).first.bounding_box()
            assert box and box["height"] >= 44, sel
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    # Chromium logs each refused request: the save refused (422) and Rita's claim (409), nothing else
    refused = sorted(e.split("status of ")[1][:3] for e in tab.errors if "Failed to load resource" in e)
    assert refused == ["409", "422"], tab.errors
    assert tab.unexpected_errors("Failed to load resource") == []
    tab.close()


def test_gs1_check_answers_by_the_rules_a_save_applies(module_service):
    svc = module_service(worker=False).for_new_tenant()
    ml = _labels()
    url = f"{svc.url}/console/gs1-check"
    good = requests.get(url, params={"ai": "00", "value": ml.SSCC}, timeout=10)
    assert good.status_code == 200 and good.json()["valid"] is True
    assert "script-src 'self'" in good.headers["Content-Security-Policy"]
    bad = requests.get(url, params={"ai": "00", "value": ml.SSCC[:17] + str((int(ml.SSCC[17]) + 1) % 10)}, timeout=10)
    assert bad.json()["valid"] is False and "check digit" in bad.json()["message"]
    date = requests.get(url, params={"ai": "17", "value": "260230"}, timeout=10).json()
    assert date["valid"] is False and date["message"].startswith("(17) 260230 is not a valid GS1 value: invalid_date")
    assert requests.get(url, params={"ai": "17", "value": "261200"}, timeout=10).json()["value"] == "2026-12-31"
    assert requests.get(url, params={"ai": "x", "value": "1"}, timeout=10).json()["valid"] is False


def test_the_consoles_quality_words_are_the_apis(module_service):
    """The console says a rescan reason with the sentence a quality=require refusal gives (config.json)."""
    from PIL import Image

    ml = _labels()
    svc = module_service(worker=False).for_new_tenant()
    with Image.open(RECEIPTS / "000.jpg") as scan:  # the one receipt a clone has without the kit beside it
        dark = ml.RECEIPT_DEGRADATIONS["dark"][0](scan.convert("RGB"))
    refused = svc.submit(_png(dark), name="dark.png", quality="require")
    assert refused.status_code == 422, refused.text
    said = {e["reason"]: e["message"] for e in refused.json()["errors"]}
    words = requests.get(f"{svc.url}/console/config.json", timeout=10).json()["quality_words"]
    assert said and all(words[r] == m for r, m in said.items())
