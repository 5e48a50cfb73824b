"""The web console in a real headless Chromium against the real gateway + worker.

Needs Debian's chromium (`apt-get install chromium fonts-dejavu-core`; `make test` and so .ci/run
install it through scripts/install-system-deps.sh --test); Playwright drives it through
executable_path, so no Playwright browser download is involved. Without chromium the tests skip
with that reason on a developer's machine, and fail under CI (CI=true), where they must run.
Screenshots of the result view (desktop 1280x800, phone 390x844) and of the other views are
written to test-output/ (git-ignored); docs/img/ holds copies of the two result-view ones.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import requests
from conftest import RECEIPTS

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RECEIPT = RECEIPTS / "000.jpg"
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


def test_console_end_to_end(make_service, browser, output_dir):
    svc = make_service()
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

        from shared.apikeys import KeyStore

        svc.start_webhooks()  # the webhook worker hosts the batch planner, as `ocrq dev` runs it
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


def test_console_files_are_served_with_a_strict_policy(make_service):
    svc = make_service(worker=False)
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


def test_console_works_from_the_keyboard_alone(make_service, browser, output_dir):
    svc = make_service(worker=False)  # the job stays queued: this is about getting it submitted
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


def test_console_fits_a_phone_screen(make_service, browser, output_dir):
    svc = make_service(worker=False)
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


def test_api_docs_render_every_operation_in_a_real_browser(make_service, browser):
    svc = make_service(worker=False)
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
