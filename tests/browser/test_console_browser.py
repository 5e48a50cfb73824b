"""The web console in a real headless Chromium against the real gateway + worker.

Needs Debian's chromium (`apt-get install chromium fonts-dejavu-core`; `make test` and so .ci/run
install it through scripts/install-system-deps.sh --test); Playwright drives it through
executable_path, so no Playwright browser download is involved. Without chromium the tests skip
with that reason on a developer's machine, and fail under CI (CI=true), where they must run.
Screenshots of the result view (desktop 1280x800, phone 390x844) and of the other views are
written to test-output/ (git-ignored); docs/img/ holds copies of the two result-view ones and of a
document page and a label needing review (reduced to 256 colours).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import requests
from conftest import RECEIPTS
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RECEIPT = RECEIPTS / "000.jpg"
# Tests that read more than receipt 000 need the kit's scans beside the clone (../shared/data/receipts).
needs_kit = pytest.mark.skipif(not (RECEIPTS / "001.jpg").is_file(), reason=f"receipt scans not present at {RECEIPTS}")
# A phrase printed on that receipt, from its ground truth (000.lines.csv: x0,y0,...,y3,text).
KNOWN_WORD = "TAMAN DAYA"
JOB_TIMEOUT_MS = 180_000
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (make test installs their dependencies)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: run `make test-deps` (apt-get install chromium fonts-dejavu-core)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: .venv/bin/pip install -e '.[dev]'")

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Console:
    """One browser tab on the console that records every console error and page error."""

    def __init__(self, browser, base_url: str, **context_args) -> None:
        self.context = browser.new_context(base_url=base_url, **context_args)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.requested: list[str] = []
        self.page.on("request", lambda r: self.requested.append(r.url))

    def sign_in(self, key: str) -> None:
        page = self.page
        page.goto("/")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="New job").wait_for()

    def unexpected_errors(self, *allowed: str) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in allowed)]

    def close(self) -> None:
        self.context.close()


def test_console_end_to_end(module_service, browser, output_dir):
    svc = module_service(webhooks=True).for_new_tenant()
    api = requests.Session()
    api.headers.update(svc.headers())

    desktop = Console(browser, svc.url, viewport={"width": 1280, "height": 800})
    desktop.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=svc.url)
    page = desktop.page

    # --- sign in: a wrong key is refused in words, the right one is kept in sessionStorage only
    page.goto("/")
    assert page.title().startswith("Sign in")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    refused = page.locator(".signin .form-error")
    refused.wait_for()
    assert "API key is unknown or revoked" in refused.inner_text()
    desktop.sign_in(svc.api_key)
    assert page.evaluate("sessionStorage.getItem('ocrq.apiKey')") == svc.api_key
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""

    # every form control has a label (keyboard / screen reader use)
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll('input, select, textarea'))
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id || el.name)""")
    assert unlabelled == []

    # --- submit the receipt and follow it to its result without reloading
    page.locator("#file").set_input_files(str(RECEIPT))
    page.locator(".preview-img").wait_for()
    page.screenshot(path=str(output_dir / "console-new.png"))
    assert page.get_by_label("Task").input_value() == "text"
    page.get_by_role("button", name="Run OCR").click()
    page.wait_for_url("**/#/jobs/job_*")
    job_id = page.url.rsplit("/", 1)[1]
    page.locator(".result").wait_for(state="visible", timeout=JOB_TIMEOUT_MS)
    page.locator(".figure.loaded").wait_for()
    assert page.locator(".job-status").inner_text() == "Succeeded"

    job = api.get(f"{svc.url}/v1/jobs/{job_id}", timeout=10).json()
    assert job["status"] == "succeeded"
    lines = job["result"]["lines"]
    assert len(lines) > 10
    boxes = page.locator("svg.overlay .ocr-box")
    assert boxes.count() == len(lines)
    assert page.locator(".ocr-box[data-line-index]").count() == len(lines)
    truth = [row[8] for row in csv.reader((RECEIPTS / "000.lines.csv").open(encoding="utf-8")) if len(row) > 8]
    assert any(KNOWN_WORD in t for t in truth)
    page.locator(".panel-lines").get_by_text(KNOWN_WORD).first.wait_for()
    assert KNOWN_WORD in page.locator(".panel-lines").inner_text()
    assert page.locator(".line-item").count() == len(lines)

    # the overlay covers exactly the displayed image, and a box sits where its line is
    img = page.locator(".doc-img").bounding_box()
    layer = page.locator("svg.overlay").bounding_box()
    assert img and layer and all(abs(img[k] - layer[k]) < 1.5 for k in ("x", "y", "width", "height"))
    scale = img["width"] / job["result"]["image"]["width"]
    i = max(range(len(lines)), key=lambda n: lines[n]["box"][2] - lines[n]["box"][0])  # the widest line
    x0, y0, x1, y1 = lines[i]["box"]
    got = boxes.nth(i).bounding_box()
    assert got is not None
    assert abs(got["x"] - (img["x"] + x0 * scale)) < 12 and abs(got["width"] - (x1 - x0) * scale) < 24
    assert abs(got["y"] - (img["y"] + y0 * scale)) < 12

    # hover a box: its text and confidence; click a line: its box is highlighted
    boxes.nth(i).hover()
    tip = page.locator(".figure .tip")
    tip.wait_for(state="visible")
    assert lines[i]["text"] in tip.inner_text() and "confidence" in tip.inner_text()
    target = next(n for n, line in enumerate(lines) if KNOWN_WORD in line["text"])
    page.locator(f'.line-item[data-line-index="{target}"]').click()
    assert "selected" in (page.locator(f'.ocr-box[data-line-index="{target}"]').get_attribute("class") or "")
    assert page.locator(".ocr-box.selected").count() == 1
    # ...and keyboard: focus a line and press Enter
    page.locator('.line-item[data-line-index="2"]').focus()
    page.keyboard.press("Enter")
    assert "selected" in (page.locator('.ocr-box[data-line-index="2"]').get_attribute("class") or "")
    page.locator(f'.line-item[data-line-index="{target}"]').click()

    # copy the text, download the JSON
    page.get_by_role("button", name="Copy text").click()
    page.get_by_text("Text copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == job["result"]["text"]
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download JSON").click()
    downloaded = json.loads(Path(dl.value.path()).read_text())
    assert downloaded["id"] == job_id and downloaded["result"]["lines"] == lines

    page.wait_for_timeout(300)  # let the smooth scroll settle
    page.mouse.move(5, 790)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(output_dir / "console-desktop.png"))
    page.screenshot(path=str(output_dir / "console-desktop-full.png"), full_page=True)

    # the Text tab holds the plain text
    page.get_by_role("tab", name="Text").click()
    assert KNOWN_WORD in page.locator(".panel-text").inner_text()

    # --- the jobs list shows the job; it opens the result view again
    page.get_by_role("link", name="Jobs", exact=True).click()
    row = page.locator(f'tr.job-row[data-job-id="{job_id}"]')
    row.wait_for()
    assert "Succeeded" in row.inner_text() and "text" in row.inner_text() and "ran" in row.inner_text()
    page.get_by_label("Status").select_option("failed")
    page.get_by_text("No failed jobs.").wait_for()
    page.get_by_label("Status").select_option("succeeded")
    row.wait_for()
    page.screenshot(path=str(output_dir / "console-jobs.png"))
    row.locator("a.job-link").click()
    page.locator(".result").wait_for(state="visible")
    assert page.locator("svg.overlay .ocr-box").count() == len(lines)

    # pages of 2: two newer jobs (with metadata) come first, the receipt is on page 2
    import imaging

    newer_ids = []
    for n in range(2):
        r = svc.submit(imaging.label(f"LABEL {n}"), name="label.png", metadata=json.dumps({"order": f"A-{n}"}))
        assert r.status_code == 202, r.text
        newer_ids.append(r.json()["id"])
    page.goto("/#/jobs?limit=2")
    page.locator(f'tr.job-row[data-job-id="{newer_ids[1]}"]').wait_for()
    assert page.locator("tr.job-row").count() == 2
    assert "order=A-1" in page.locator(f'tr.job-row[data-job-id="{newer_ids[1]}"]').inner_text()
    page.get_by_role("button", name="Older").click()
    page.locator(f'tr.job-row[data-job-id="{job_id}"]').wait_for()
    assert page.locator(".page-no").inner_text() == "Page 2"
    page.get_by_role("button", name="Newer").click()
    page.locator(f'tr.job-row[data-job-id="{newer_ids[0]}"]').wait_for()
    for jid in newer_ids:
        svc.wait(jid)

    # --- a bad file: the problem's detail in words, not JSON or a stack trace
    bad = b"this is a text file, not a JPEG\n"
    expected = requests.post(
        f"{svc.url}/v1/jobs", headers=svc.headers(), files={"file": ("notes.jpg", bad)}, timeout=10
    )
    assert expected.headers["Content-Type"].startswith("application/problem+json")
    problem = expected.json()
    page.get_by_role("link", name="New job", exact=True).click()
    page.locator("#file").set_input_files({"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": bad})
    page.get_by_role("button", name="Run OCR").click()
    error = page.locator(".new-job .form-error")
    error.wait_for()
    shown = error.inner_text()
    assert problem["detail"] in shown and problem["title"] in shown
    assert "Traceback" not in shown and "{" not in shown and "urn:" not in shown
    assert page.url.endswith("#/new")
    page.screenshot(path=str(output_dir / "console-bad-file.png"))

    # an engine that cannot do a task: the server's 400 message, and the form said so in advance
    page.locator("#file").set_input_files(str(RECEIPT))
    page.get_by_label("Task").select_option("parse")
    assert "does not do this task" in page.locator(".task-hint").inner_text()
    page.get_by_role("button", name="Run OCR").click()
    page.get_by_text("engine 'rapidocr' cannot do task 'parse'").wait_for()
    # fields needs names before anything is sent
    page.get_by_label("Task").select_option("fields")
    page.get_by_role("button", name="Run OCR").click()
    page.get_by_text("Enter at least one field name").wait_for()

    # --- batches: progress, counts and the failure list of a small manifest batch (one good, one missing)
    cfg = requests.get(f"{svc.url}/console/config.json", timeout=10).json()
    page.get_by_role("link", name="Batches").click()
    page.locator(".batch-list-body p, .batch-list-body ul").first.wait_for()
    if not cfg["batches"]["list"]:  # a gateway without the batches API: said in words, nothing breaks
        assert "No batches" in page.locator(".batch-list-body").inner_text()
    if cfg["batches"]["get"]:
        import redis as redis_lib

        from shared.tenants import KeyStore

        KeyStore(redis_lib.Redis.from_url(svc.redis_url)).allow_bucket(svc.tenant, "ocrq")
        sha = api.get(f"{svc.url}/v1/jobs/{newer_ids[0]}", timeout=10).json()["input"]["sha256"]
        manifest = "\n".join(json.dumps(k) for k in (f"inputs/{svc.tenant}/{sha}", "scans/gone.png")) + "\n"
        r = api.post(
            f"{svc.url}/v1/batches",
            timeout=10,
            json={
                "source": {"bucket": "ocrq", "manifest_text": manifest, "manifest_format": "jsonl"},
                "output": {"bucket": "ocrq", "prefix": "out"},
            },
        )
        assert r.status_code in (201, 202), r.text
        batch_id = r.json()["id"]
        page.reload()
        link = page.locator(f'.batch-items li[data-batch-id="{batch_id}"] a')
        link.wait_for()
        link.click()
        page.locator(".batch-summary").wait_for()
        page.locator('.batch-summary dd[data-count="succeeded"]', has_text="1").wait_for(timeout=JOB_TIMEOUT_MS)
        page.locator('.batch-summary dd[data-count="failed"]', has_text="1").wait_for(timeout=JOB_TIMEOUT_MS)
        page.locator(".batch-summary .badge", has_text="Completed").wait_for(timeout=JOB_TIMEOUT_MS)
        # the list below says the same at once, not on its own next refresh
        page.locator(f'.batch-items li[data-batch-id="{batch_id}"]', has_text="Completed · 2 of 2 finished").wait_for(
            timeout=1500
        )
        assert page.locator(".batch-summary [role=progressbar]").get_attribute("aria-valuenow") == "2"
        failures = page.locator(".failures-table")
        failures.wait_for()
        assert "scans/gone.png" in failures.inner_text() and "input_missing" in failures.inner_text()
        page.get_by_role("button", name="Retry failed items").wait_for()
        page.screenshot(path=str(output_dir / "console-batch.png"), full_page=True)
        # a batch id that does not exist: the problem's detail
        page.get_by_label("Batch id").fill("bat_nope")
        page.get_by_role("button", name="Show").click()
        page.get_by_text("no batch bat_nope").wait_for()

    # the untrusted-text renderer never makes markup out of text
    made = page.evaluate("""async () => {
        const { renderMarkdown } = await import('/console/markdown.js');
        const box = document.createElement('div');
        box.append(renderMarkdown('# T <img src=x onerror="window.pwned=1">\\n\\n| a | b |\\n|---|---|\\n| <script>x</script> | **bold** |\\n\\n[x](javascript:alert(1)) [ok](https://example.org)'));
        return { imgs: box.querySelectorAll('img, script').length, h1: box.querySelector('h1').textContent,
                 strong: box.querySelector('td strong') && box.querySelector('td strong').textContent,
                 links: Array.from(box.querySelectorAll('a')).map(a => a.getAttribute('href')) };
    }""")
    assert made == {
        "imgs": 0,
        "h1": 'T <img src=x onerror="window.pwned=1">',
        "strong": "bold",
        "links": ["https://example.org"],
    }

    # --- sign out forgets the key
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("sessionStorage.getItem('ocrq.apiKey')") is None

    # the key never went into a URL; the page only ever talked to the gateway
    assert not [u for u in desktop.requested if svc.api_key in u]
    assert all(u.startswith((svc.url, "blob:", "data:")) for u in desktop.requested)
    # The wrong key, the rejected upload, the unsupported task and the unknown batch are the only errors: Chromium logs
    # each refused request as "Failed to load resource ... status of N"; nothing else may appear.
    refused = sorted(e.split("status of ")[1][:3] for e in desktop.errors if "Failed to load resource" in e)
    assert refused == (["400", "401", "404", "415"] if cfg["batches"]["get"] else ["400", "401", "415"]), desktop.errors
    assert desktop.unexpected_errors("Failed to load resource") == []
    desktop.close()

    # --- phone: the same result view at 390 x 844
    phone = Console(browser, svc.url, **PHONE)
    phone.sign_in(svc.api_key)
    assert phone.page.locator("#camera").get_attribute("capture") == "environment"
    phone.page.goto(f"/#/jobs/{job_id}")
    phone.page.locator(".figure.loaded").wait_for()
    assert phone.page.locator("svg.overlay .ocr-box").count() == len(lines)
    phone.page.locator(f'.ocr-box[data-line-index="{target}"]').tap()
    phone.page.locator(".figure .tip").wait_for(state="visible")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    phone.page.evaluate("window.scrollTo(0, 0)")
    phone.page.screenshot(path=str(output_dir / "console-phone.png"))
    phone.page.screenshot(path=str(output_dir / "console-phone-full.png"), full_page=True)
    assert phone.unexpected_errors() == []
    phone.close()


def test_console_files_are_served_with_a_strict_policy(module_service):
    svc = module_service(worker=False).for_new_tenant()
    r = requests.get(f"{svc.url}/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    js = requests.get(f"{svc.url}/console/app.js", timeout=10)
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    for path in ("/console/../app.py", "/console/nope.js", "/console/index.html"):
        miss = requests.get(f"{svc.url}{path}", timeout=10)
        assert miss.status_code == 404 and miss.headers["Content-Type"].startswith("application/problem+json")
    cfg = requests.get(f"{svc.url}/console/config.json", timeout=10).json()
    assert cfg["engine"] == "rapidocr" and cfg["tasks"] == ["text", "spotting", "barcodes"]


def _focused(page) -> str:
    return page.evaluate("""() => { const el = document.activeElement;
        return el ? (el.id || el.textContent.trim() || el.tagName) : ''; }""")


def _tab_to(page, name: str, most: int = 15) -> list[str]:
    """Press Tab until the focused element's id or text is `name`; returns the stops passed."""
    stops = []
    for _ in range(most):
        page.keyboard.press("Tab")
        stops.append(_focused(page))
        if stops[-1] == name:
            assert page.evaluate("document.activeElement.matches(':focus-visible')"), f"{name} has no visible focus"
            return stops
    raise AssertionError(f"Tab never reached {name!r}; focus went {stops}")


def test_console_works_from_the_keyboard_alone(module_service, browser, output_dir):
    svc = module_service(worker=False).for_new_tenant()  # the job stays queued: this is about getting it submitted
    tab = Console(browser, svc.url, viewport={"width": 1280, "height": 800})
    page = tab.page
    # Turn on Playwright's file-chooser interception now: enabled lazily by expect_file_chooser
    # below, it can lose the race with the key press that opens the chooser.
    page.on("filechooser", lambda _chooser: None)
    page.goto("/")
    # the key field has the focus on arrival: type and press Enter
    assert _focused(page) == "apikey"
    page.keyboard.type(svc.api_key)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="New job").wait_for()

    # Tab reaches the file picker, Space opens it; the task changes with the arrow keys
    _tab_to(page, "file")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(RECEIPT))
    page.locator(".preview-img").wait_for()
    _tab_to(page, "task")
    page.keyboard.press("ArrowDown")
    assert page.get_by_label("Task").input_value() == "spotting"
    _tab_to(page, "Run OCR")
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/jobs/job_*")
    page.get_by_text("Waiting for a worker…").wait_for()
    assert page.locator(".job-status").inner_text() == "Queued"
    assert "spotting" in page.locator(".job-facts").inner_text()

    # the main navigation is reachable and works with Enter
    page.locator(".back").focus()
    page.keyboard.press("Enter")
    page.locator("tr.job-row").first.wait_for()
    assert page.locator("tr.job-row a.job-link").count() == 1
    assert tab.unexpected_errors() == []
    tab.close()


def test_console_fits_a_phone_screen(module_service, browser, output_dir):
    svc = module_service(worker=False).for_new_tenant()
    for n in range(3):  # a few queued jobs with long metadata for the jobs list
        r = svc.submit(RECEIPT, metadata=json.dumps({"store": f"Kuala Lumpur Central {n}", "scan": "x" * 40}))
        assert r.status_code == 202, r.text
    phone = Console(browser, svc.url, **PHONE)
    page = phone.page
    page.goto("/")
    width = page.evaluate("innerWidth")
    assert width == 390

    def fits(what: str) -> None:
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{what} scrolls sideways"

    fits("sign in")
    phone.sign_in(svc.api_key)
    fits("new job")
    # on a phone the camera is offered, and the form's controls are full width and thumb-sized
    camera = page.get_by_text("Take a photo")
    assert camera.is_visible()
    run = page.get_by_role("button", name="Run OCR").bounding_box()
    assert run and run["height"] >= 40 and run["width"] > width * 0.7
    for link in ("New job", "Jobs", "Batches"):
        box = page.get_by_role("link", name=link, exact=True).bounding_box()
        assert box and box["height"] >= 36 and box["x"] >= 0 and box["x"] + box["width"] <= width

    page.get_by_role("link", name="Jobs", exact=True).tap()
    page.locator("tr.job-row").nth(2).wait_for()
    fits("jobs list")
    row = page.locator("tr.job-row").first
    assert "Queued" in row.inner_text() and "Kuala Lumpur Central 2" in row.inner_text()
    # nothing in a row runs past its cell (the card clips, so scrollWidth would not tell)
    overflow = page.evaluate("""() => Array.from(document.querySelectorAll('tr.job-row td *'))
        .filter(el => el.getBoundingClientRect().right > el.closest('td').getBoundingClientRect().right + 0.5)
        .map(el => el.textContent)""")
    assert overflow == []
    page.screenshot(path=str(output_dir / "console-phone-jobs.png"))

    page.get_by_role("link", name="Batches", exact=True).tap()
    page.get_by_role("heading", name="Batches", exact=True).wait_for()
    page.locator(".batch-list-body").get_by_text("Loading…").wait_for(state="detached")
    fits("batches")
    assert phone.unexpected_errors() == []
    phone.close()


def test_api_docs_render_every_operation_in_a_real_browser(module_service, browser):
    svc = module_service(worker=False).for_new_tenant()
    tab = Console(browser, svc.url)
    try:
        missing: list[str] = []
        tab.page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        tab.page.goto("/docs")
        tab.page.locator(".opblock").first.wait_for()
        operations = tab.page.locator(".opblock").count()
        spec_ops = sum(len([m for m in item if m != "parameters"])
                       for item in requests.get(f"{svc.url}/openapi.json", timeout=10).json()["paths"].values())
        assert operations == spec_ops and operations >= 25
        assert all(u.startswith(svc.url) for u in tab.requested), "every request goes to the gateway itself"
        assert missing == [] and tab.unexpected_errors() == []
    finally:
        tab.close()


# ------------------------------------------------------------------ documents (issue 13)
def _failed_responses(console: Console) -> list[str]:
    return [e for e in console.errors if "Failed to load resource" in e]


@needs_kit
def test_console_document_pages_boxes_progress_and_downloads(module_service, browser, output_dir):
    import xml.etree.ElementTree as ET

    import pypdfium2 as pdfium
    from documents_data import SCANS, receipts_pdf, tiff_pages

    svc = module_service(webhooks=True).for_new_tenant()
    api = requests.Session()
    api.headers.update(svc.headers())
    tab = Console(browser, svc.url, viewport={"width": 1280, "height": 800})
    page = tab.page
    bad_responses: list[str] = []
    page.on("response", lambda r: bad_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    tab.sign_in(svc.api_key)

    # --- a 3-page PDF of receipt scans, uploaded through the form; progress while the pages are read
    pdf = receipts_pdf()
    page.locator("#file").set_input_files({"name": "receipts.pdf", "mimeType": "application/pdf", "buffer": pdf})
    page.get_by_text("receipts.pdf").wait_for()
    page.get_by_role("button", name="Run OCR").click()
    page.wait_for_url("**/#/jobs/job_*")
    job_id = page.url.rsplit("/", 1)[1]
    progress = page.locator(".progress-card .page-progress")
    progress.wait_for(state="visible", timeout=JOB_TIMEOUT_MS)  # running: pages done out of the 3
    assert progress.get_attribute("max") == "3"
    assert "of 3 pages done" in page.locator(".progress-text").inner_text()
    page.screenshot(path=str(output_dir / "console-document-progress.png"))
    page.locator(".result").wait_for(state="visible", timeout=JOB_TIMEOUT_MS)
    page.locator(".figure.loaded").wait_for()

    job = api.get(f"{svc.url}/v1/jobs/{job_id}", timeout=10).json()
    assert job["status"] == "succeeded" and job["pages_total"] == 3 and job["pages_failed"] == 0
    pages = job["result"]["pages"]
    assert [p["page"] for p in pages] == [1, 2, 3] and all(len(p["lines"]) > 5 for p in pages)
    facts = page.locator(".job-facts").inner_text()
    assert "PDF" in facts and "3 pages" in facts
    assert page.locator(".review-card").is_hidden()

    # --- page 1 first; Next shows page 2: its picture, its boxes, its text
    bar = page.locator(".page-bar")
    assert bar.get_attribute("data-page") == "1" and "of 3" in bar.inner_text()
    assert page.get_by_role("button", name="Previous").is_disabled()
    assert page.locator("svg.overlay .ocr-box").count() == len(pages[0]["lines"])
    page.get_by_role("button", name="Next").click()
    page.locator('.page-bar[data-page="2"]').wait_for()
    page.locator(".figure.loaded").wait_for()
    assert page.url.endswith(f"#/jobs/{job_id}?page=2")
    second = pages[1]
    boxes = page.locator("svg.overlay .ocr-box")
    assert boxes.count() == len(second["lines"])
    assert page.locator(".line-item").count() == len(second["lines"])
    assert page.get_by_role("tab", name=f"Lines ({len(second['lines'])})").is_visible()
    # the picture is page 2 (its shape), and a box sits where its line is, in page 2's pixels
    natural = page.evaluate("(() => { const i = document.querySelector('.doc-img'); return [i.naturalWidth, i.naturalHeight]; })()")
    assert abs(natural[0] / natural[1] - second["width"] / second["height"]) < 0.01
    with Image.open(SCANS[1]) as scan:
        assert abs(second["width"] / second["height"] - scan.width / scan.height) < 0.01
    img = page.locator(".doc-img").bounding_box()
    assert img is not None
    scale = img["width"] / second["width"]
    i = max(range(len(second["lines"])), key=lambda n: second["lines"][n]["box"][2] - second["lines"][n]["box"][0])
    x0, y0, x1, y1 = second["lines"][i]["box"]
    got = boxes.nth(i).bounding_box()
    assert got is not None
    assert abs(got["x"] - (img["x"] + x0 * scale)) < 12 and abs(got["y"] - (img["y"] + y0 * scale)) < 12
    assert abs(got["width"] - (x1 - x0) * scale) < 24
    page.get_by_role("tab", name="Text").click()
    shown = page.locator(".panel-text").inner_text()
    assert shown.strip() == second["text"].strip() and shown.strip() != pages[0]["text"].strip()
    page.screenshot(path=str(output_dir / "console-document.png"))

    # --- the page picker, and a link straight to a page
    page.get_by_label("Page", exact=True).select_option(label="Page 3")
    page.locator('.page-bar[data-page="3"]').wait_for()
    page.locator(".figure.loaded").wait_for()
    assert page.locator("svg.overlay .ocr-box").count() == len(pages[2]["lines"])
    assert page.get_by_role("button", name="Next").is_disabled()
    page.goto(f"/#/jobs/{job_id}?page=2")
    page.reload()
    page.locator('.page-bar[data-page="2"]').wait_for()
    page.locator(".figure.loaded").wait_for()
    assert page.locator("svg.overlay .ocr-box").count() == len(second["lines"])

    # --- downloads, fetched with the key and saved from a blob link: searchable PDF, hOCR, text
    with page.expect_download() as dl:
        page.get_by_role("button", name="Searchable PDF").click()
    assert dl.value.suggested_filename == f"{job_id}.pdf" and dl.value.url.startswith("blob:")
    data = Path(dl.value.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    doc = pdfium.PdfDocument(data)
    try:
        assert len(doc) == 3
        words = [w for w in second["lines"][i]["text"].split() if len(w) > 3][:1]
        assert all(w in doc[1].get_textpage().get_text_range() for w in words)
    finally:
        doc.close()
    with page.expect_download() as dl:
        page.get_by_role("button", name="hOCR").click()
    root = ET.fromstring(Path(dl.value.path()).read_bytes())
    assert len([e for e in root.iter() if e.get("class") == "ocr_page"]) == 3
    with page.expect_download() as dl:
        page.get_by_role("button", name="Text file").click()
    assert Path(dl.value.path()).read_text(encoding="utf-8") == job["result"]["text"]

    # --- a TIFF whose second page is corrupt: the job needs review, page 2 shows its error, page 1 its text
    r = svc.submit(tiff_pages(corrupt_page=2), name="scans.tiff", pages="1-2")
    assert r.status_code == 202, r.text
    tiff_job = svc.wait(r.json()["id"], timeout=JOB_TIMEOUT_MS / 1000)
    assert tiff_job["status"] == "succeeded" and tiff_job["pages_failed"] == 1, tiff_job
    failed = tiff_job["result"]["pages"][1]["error"]
    page.goto(f"/#/jobs/{tiff_job['id']}")
    page.locator(".figure.loaded").wait_for()
    review = page.locator(".review-card")
    assert review.is_visible() and "Some pages could not be read" in review.inner_text()
    assert page.locator('.review-list li[data-reason="pages_failed"]').count() == 1
    assert page.locator(".page-error").is_hidden()
    assert page.locator("svg.overlay .ocr-box").count() == len(tiff_job["result"]["pages"][0]["lines"]) > 0
    assert "Page 2 (failed)" in page.locator(".page-select").inner_text()
    page.get_by_role("button", name="Next").click()
    error = page.locator(".page-error")
    error.wait_for()
    assert failed["code"] in error.inner_text() and failed["message"] in error.inner_text()
    assert page.locator("svg.overlay .ocr-box").count() == 0
    page.screenshot(path=str(output_dir / "console-document-failed-page.png"))

    # the list says which jobs are documents and which need review
    page.get_by_role("link", name="Jobs", exact=True).click()
    row = page.locator(f'tr.job-row[data-job-id="{tiff_job["id"]}"]')
    row.wait_for()
    assert f"{tiff_job['pages_total']} pages" in row.inner_text()
    assert "Needs review" in row.inner_text()
    assert "Needs review" not in page.locator(f'tr.job-row[data-job-id="{job_id}"]').inner_text()

    assert bad_responses == [] and _failed_responses(tab) == [], bad_responses
    assert tab.unexpected_errors() == []
    assert all(u.startswith((svc.url, "blob:", "data:")) for u in tab.requested)
    tab.close()

    # a phone: the page bar fits and works
    phone = Console(browser, svc.url, **PHONE)
    phone.sign_in(svc.api_key)
    phone.page.goto(f"/#/jobs/{job_id}?page=3")
    phone.page.locator('.page-bar[data-page="3"]').wait_for()
    phone.page.locator(".figure.loaded").wait_for()
    wide = phone.page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
        .filter(el => el.getBoundingClientRect().right > innerWidth + 0.5).map(el => el.className || el.tagName)""")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390, wide
    phone.page.get_by_role("button", name="Previous").tap()
    phone.page.locator('.page-bar[data-page="2"]').wait_for()
    assert phone.page.locator("svg.overlay .ocr-box").count() == len(second["lines"])
    assert phone.unexpected_errors() == []
    phone.close()


# ------------------------------------------------------------------ warehouse labels (issue 15)
def _png_bytes(im) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _stroke(page, selector: str) -> str:
    return page.evaluate(f"getComputedStyle(document.querySelector({json.dumps(selector)})).stroke")


@needs_kit
def test_console_labels_barcode_boxes_gs1_fields_review_and_quality(module_service, browser, output_dir):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import make_labels as ml

    labels = {name: im for name, im, _ in ml.labels()}
    svc = module_service(webhooks=True).for_new_tenant()
    api = requests.Session()
    api.headers.update(svc.headers())
    tab = Console(browser, svc.url, viewport={"width": 1280, "height": 800})
    page = tab.page
    bad_responses: list[str] = []
    page.on("response", lambda r: bad_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    tab.sign_in(svc.api_key)

    # --- an SSCC label through the form, task barcodes, photo quality checked
    page.locator("#file").set_input_files(
        {"name": "label.png", "mimeType": "image/png", "buffer": _png_bytes(labels["gs1_128_sscc"])}
    )
    page.get_by_label("Task").select_option("barcodes")
    assert "GS1" in page.locator(".task-hint").inner_text()
    page.locator(".more summary").click()
    page.get_by_label("Check the photo's quality").check()
    with page.expect_response(lambda r: r.url.endswith("/v1/jobs") and r.request.method == "POST") as submitted:
        page.get_by_role("button", name="Run OCR").click()
    accepted = submitted.value.json()
    assert accepted["quality"]["verdict"] == "ok"  # a clean label
    page.wait_for_url("**/#/jobs/job_*")
    page.locator(".result").wait_for(state="visible", timeout=JOB_TIMEOUT_MS)
    page.locator(".figure.loaded").wait_for()
    job = api.get(f"{svc.url}/v1/jobs/{accepted['id']}", timeout=10).json()
    (symbol,) = job["result"]["barcodes"]

    # the symbol's box: its own class and colour, where the symbol is; a legend says which is which
    code_box = page.locator("svg.overlay .barcode-box")
    assert code_box.count() == 1 and page.locator("svg.overlay .ocr-box").count() == 0
    assert _stroke(page, ".barcode-box") == "rgb(124, 58, 237)"
    legend = page.locator(".legend")
    assert legend.is_visible() and "barcode" in legend.inner_text() and "text line" in legend.inner_text()
    img = page.locator(".doc-img").bounding_box()
    got = code_box.bounding_box()
    assert img and got
    scale = img["width"] / job["result"]["image"]["width"]
    assert abs(got["x"] - (img["x"] + symbol["box"][0] * scale)) < 8
    assert abs(got["width"] - (symbol["box"][2] - symbol["box"][0]) * scale) < 16

    # the decoded symbols and their GS1 fields: the first tab of a barcodes job
    panel = page.locator(".panel-barcodes")
    assert panel.is_visible() and page.get_by_role("tab", name="Barcodes (1)").get_attribute("aria-selected") == "true"
    assert "Code128" in panel.locator("table.symbols").inner_text() and symbol["text"] in panel.inner_text()
    sscc_row = panel.locator('table.gs1-fields tr[data-field="sscc"]')
    assert "SSCC" in sscc_row.inner_text() and ml.SSCC in sscc_row.inner_text() and "(00)" in sscc_row.inner_text()
    assert "valid" in panel.locator(".gs1 h3").inner_text() and panel.locator(".gs1-bad").count() == 0
    assert page.locator(".review-card").is_hidden()
    quality = page.locator(".quality-card")
    assert quality.is_visible() and quality.get_attribute("data-verdict") == "ok"
    assert "good" in quality.inner_text()
    code_box.hover()
    assert symbol["text"] in page.locator(".figure .tip").inner_text()
    page.screenshot(path=str(output_dir / "console-label.png"))

    # --- planted fault 1: a wrong check digit; the review reason in words, the GS1 error on the symbol
    r = svc.submit(_png_bytes(labels["fault_check_digit"]), name="bad.png", task="barcodes")
    bad = svc.wait(r.json()["id"])
    assert bad["needs_review"] is True and bad["review_reasons"] == ["check_digit"]
    page.goto(f"/#/jobs/{bad['id']}")
    page.locator(".figure.loaded").wait_for()
    review = page.locator(".review-card")
    assert review.is_visible() and "check digit" in review.inner_text()
    assert page.locator('.review-list li[data-reason="check_digit"]').count() == 1
    box = review.bounding_box()
    assert box and box["y"] < 400  # above the fold, before the result
    gs1 = page.locator(".panel-barcodes .gs1")
    assert "invalid: check_digit" in gs1.inner_text()
    message = bad["result"]["barcodes"][0]["gs1"]["errors"][0]["message"]
    assert message in gs1.locator(".gs1-errors").inner_text()
    page.screenshot(path=str(output_dir / "console-label-review.png"))

    # --- planted fault 2: printed text that disagrees with the symbol, read with OCR: lines and the symbol
    # drawn in their two colours
    r = svc.submit(_png_bytes(labels["fault_text_mismatch"]), name="mismatch.png")
    mismatch = svc.wait(r.json()["id"], timeout=JOB_TIMEOUT_MS / 1000)
    assert mismatch["review_reasons"] == ["text_mismatch"], mismatch
    page.goto(f"/#/jobs/{mismatch['id']}")
    page.locator(".figure.loaded").wait_for()
    assert "does not match" in page.locator(".review-card").inner_text()
    assert page.locator("svg.overlay .ocr-box").count() == len(mismatch["result"]["lines"]) > 0
    assert page.locator("svg.overlay .barcode-box").count() == len(mismatch["result"]["barcodes"]) == 1
    assert _stroke(page, ".ocr-box") != _stroke(page, ".barcode-box")
    assert page.get_by_role("tab", name="Barcodes (1)").is_visible()
    assert page.locator(".legend").is_visible()

    # --- a photo too dark to read: the rescan verdict and its reason, as the gateway gave it
    with Image.open(RECEIPTS / "001.jpg") as scan:
        dark = ml.RECEIPT_DEGRADATIONS["dark"][0](scan.convert("RGB"))
    page.get_by_role("link", name="New job", exact=True).click()
    page.locator("#file").set_input_files({"name": "dark.png", "mimeType": "image/png", "buffer": _png_bytes(dark)})
    page.get_by_label("Task").select_option("barcodes")
    page.locator(".more summary").click()
    page.get_by_label("Check the photo's quality").check()
    with page.expect_response(lambda r: r.url.endswith("/v1/jobs") and r.request.method == "POST") as submitted:
        page.get_by_role("button", name="Run OCR").click()
    verdict = submitted.value.json()["quality"]
    assert verdict["verdict"] == "rescan" and verdict["reasons"][0] == "too_dark"
    quality.wait_for()
    assert quality.get_attribute("data-verdict") == "rescan"
    assert "Retake the photo" in quality.inner_text() and "too dark" in quality.inner_text()
    page.locator(".result").wait_for(state="visible", timeout=JOB_TIMEOUT_MS)
    assert "No barcode was found" in page.locator(".panel-barcodes").inner_text()
    assert "Retake the photo" in quality.inner_text()
    page.screenshot(path=str(output_dir / "console-rescan.png"))
    # The verdict is the job's own: still there after a reload (no memory of the submit).
    page.reload()
    page.locator(".result").wait_for(state="visible", timeout=JOB_TIMEOUT_MS)
    assert page.locator(".quality-card").get_attribute("data-verdict") == "rescan"
    assert "too dark" in page.locator(".quality-card").inner_text()

    assert bad_responses == [] and _failed_responses(tab) == [], bad_responses
    assert tab.unexpected_errors() == []
    tab.close()
