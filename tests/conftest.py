"""Shared fixtures: real servers on free loopback ports, started and stopped by the tests.

- redis_server: a private `redis-server` (AOF on, like production)
- s3_server:    `moto_server`, a real S3 protocol server over HTTP (MinIO's server is not
                installable here; the code under test is the `minio` client, MinIO-first)
- make_service: the gateway (gunicorn) + a Celery worker as subprocesses, on a chosen store
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests

ROOT = Path(__file__).resolve().parent.parent
KIT_RECEIPTS = ROOT.parent / "shared" / "data" / "receipts"
# Without the receipt kit beside the clone, the repository's example receipt stands in as 000
# (tests/data/receipts links to examples/), so tests that need one real scan still run.
RECEIPTS = KIT_RECEIPTS if (KIT_RECEIPTS / "000.jpg").is_file() else ROOT / "tests" / "data" / "receipts"
OUTPUT = ROOT / "test-output"

sys.path.insert(0, str(ROOT))
import requests.adapters  # noqa: E402

from cli.procs import free_port, start_redis, stop_all, wait_for_port  # noqa: E402


@dataclass
class RedisServer:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    data_dir: Path

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis.from_url(self.url)

    def restart(self) -> None:
        """kill -9 and start again on the same port and data (AOF replay)."""
        self.proc.kill()
        self.proc.wait()
        self.proc = start_redis(self.data_dir, self.port)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server); .ci/run installs it")
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = start_redis(data, port)
    server = RedisServer(f"redis://127.0.0.1:{port}/0", port, proc, data)
    yield server
    stop_all([server.proc])


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[str]:
    """A clean database on the shared server for one test."""
    client = redis_server.client()
    client.flushall()
    yield redis_server.url


@dataclass
class S3Server:
    endpoint: str  # host:port
    access_key: str = "testing"
    secret_key: str = "testing"
    proc: subprocess.Popen[bytes] | None = None

    def env(self, bucket: str) -> dict[str, str]:
        return {
            "OCRQ_STORAGE_URL": f"s3://{bucket}",
            "OCRQ_S3_ENDPOINT": self.endpoint,
            "OCRQ_S3_ACCESS_KEY": self.access_key,
            "OCRQ_S3_SECRET_KEY": self.secret_key,
            "OCRQ_S3_SECURE": "false",
        }

    def make_bucket(self, name: str) -> None:
        from minio import Minio

        client = Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)
        if not client.bucket_exists(name):
            client.make_bucket(name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, proc, 30)
    yield S3Server(f"127.0.0.1:{port}", proc=proc)
    stop_all([proc])


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    name = "t" + uuid.uuid4().hex[:12]
    s3_server.make_bucket(name)
    return name


@dataclass
class Service:
    """A running gateway + worker(s); everything a test needs to talk to it."""

    url: str
    api_key: str
    tenant: str
    env: dict[str, str]
    redis_url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = Path(".")
    # how requests reach it: the requests module (a real server), or a session bound to an in-process app
    http: Any = requests

    def for_new_tenant(self, prefix: str = "t") -> Service:
        """The same running service, seen by a fresh tenant with its own key (module_service)."""
        import dataclasses

        tenant = new_tenant(prefix)
        view = dataclasses.replace(self, tenant=tenant, api_key=self.new_key(tenant))
        _SHARED_VIEWS.append(view)
        return view

    def cancel_unfinished(self) -> None:
        """Cancel this tenant's queued jobs (a shared worker then skips them): what a test left
        behind, when it failed or gave up waiting, does not hold up the next test on the stack."""
        for _ in range(20):
            try:
                r = self.http.get(f"{self.url}/v1/jobs", params={"status": "queued", "limit": 100},
                                  headers=self.headers(), timeout=10)
                items = r.json()["items"] if r.status_code == 200 else []
                for job in items:
                    self.http.delete(f"{self.url}/v1/jobs/{job['id']}", headers=self.headers(), timeout=10)
            except requests.RequestException:
                return
            if len(items) < 100:
                return


    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def blob_store(self):  # type: ignore[no-untyped-def]
        """The service's own blob store (S3 or a folder), opened from its settings: what it stored."""
        from shared.infra.settings import Settings, load_settings
        from shared.infra.storage import open_blob_store

        fields = {k.removeprefix("OCRQ_").lower(): v for k, v in self.env.items() if k.startswith("OCRQ_")}
        return open_blob_store(load_settings(**{k: v for k, v in fields.items() if k in Settings.model_fields}))

    def submit(
        self,
        path: Path | bytes,
        *,
        name: str = "image.jpg",
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **form: str,
    ) -> requests.Response:
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        return self.http.post(
            f"{self.url}/v1/jobs",
            headers={**self.headers(key), **(headers or {})},
            files={"file": (name, data)},
            data=form,
            timeout=30,
        )

    def wait(self, job_id: str, timeout: float = 120, key: str | None = None) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.http.get(f"{self.url}/v1/jobs/{job_id}", params={"wait": 10}, headers=self.headers(key), timeout=30)
            if r.status_code == 503 and r.headers.get("Retry-After"):  # Redis restarting: retry, as clients are told
                time.sleep(min(float(r.headers["Retry-After"]), 2.0))
                continue
            r.raise_for_status()
            job = r.json()
            if job["status"] in ("succeeded", "failed", "canceled"):
                return job
        raise AssertionError(f"job {job_id} not finished after {timeout} s")

    def start_worker(self, name: str = "worker", extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return self._start(name, ["worker", "--gpus", "none"], extra_env)

    def start_webhooks(
        self, name: str = "webhooks", extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """The webhook worker exactly as deployed: `ocrq webhooks` (delivery, and the batch planner)."""
        proc = self._start(name, ["webhooks", "--concurrency", "4"], extra_env)
        _wait_worker_ready(self.logs / f"{name}.log", proc)
        return proc

    def _start(self, name: str, args: list[str], extra_env: dict[str, str] | None) -> subprocess.Popen[bytes]:
        """`ocrq <args>` in its own process group (a test may kill it whole), its output in logs/<name>.log."""
        log = open(self.logs / f"{name}.log", "ab")
        _count_start("webhooks" if args[0] == "webhooks" else "worker")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            env={**self.env, **(extra_env or {})},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def stop_worker(self, name: str = "worker") -> None:
        proc = self.procs.pop(name)
        _kill_group(proc)

    def new_key(self, tenant: str) -> str:
        from shared.tenants import KeyStore

        clear, _ = KeyStore(redis_lib.Redis.from_url(self.redis_url)).create(tenant, "test")
        return clear


# The tenants handed out on shared stacks during the running test (module_service + for_new_tenant).
_SHARED_VIEWS: list[Service] = []


@pytest.fixture(autouse=True)
def _leave_shared_stacks_idle() -> Iterator[None]:
    yield
    while _SHARED_VIEWS:
        _SHARED_VIEWS.pop().cancel_unfinished()


def _end_groups(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL the process groups of a stack whose test is over, then reap them. Nothing more is
    read from them, and a graceful stop cost ~2 s a stack (a Celery warm shutdown; up to 20 s when
    a browser held a long-poll open): about 100 s a run. Tests that stop a process on purpose do it
    gracefully, with stop_worker or _kill_group."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in procs:
        proc.wait()


def until(check: Callable[[], Any], timeout: float, what: str, *, every: float = 0.2,
          retry_on: tuple[type[BaseException], ...] = ()) -> Any:
    """``check()`` until it returns something truthy, and that value; fails after ``timeout`` s naming
    ``what``. An exception in ``retry_on`` (a server the test restarts, still coming back) counts as
    not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except retry_on:
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with code {proc.returncode}")
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError("gateway not ready")


def _wait_worker_ready(log: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with code {proc.returncode}: {log.read_text()[-2000:]}")
        if log.exists() and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"worker not ready: {log.read_text()[-2000:] if log.exists() else ''}")


MakeService = Callable[..., Service]

# Processes started through this conftest, by kind ("gateway", "worker", "webhooks"), per test module:
# printed at the end of a run (pytest_terminal_summary), so a change that starts more of them shows.
STARTS: dict[str, dict[str, int]] = {}


def _count_start(kind: str) -> None:
    module = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[0]
    per = STARTS.setdefault(module, {})
    per[kind] = per.get(kind, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STARTS:
        return
    tr = terminalreporter
    tr.section("processes started by conftest (gateway = gunicorn, worker = OCR worker, webhooks)")
    kinds = ("gateway", "worker", "webhooks", "in-process gateway")
    totals = {k: sum(per.get(k, 0) for per in STARTS.values()) for k in kinds}
    for module, per in sorted(STARTS.items(), key=lambda kv: -sum(kv[1].values())):
        tr.write_line(f"{module:60s} " + "  ".join(f"{k} {per.get(k, 0):3d}" for k in kinds))
    tr.write_line(f"{'total':60s} " + "  ".join(f"{k} {totals[k]:3d}" for k in kinds))


def _service_env(redis_url: str, blobs: Path, store_env: dict[str, str] | None, env: dict[str, str] | None
                 ) -> dict[str, str]:
    return {
        **os.environ,
        "OCRQ_REDIS_URL": redis_url,
        "OCRQ_STORAGE_URL": f"file://{blobs}",
        "OCRQ_LEASE_S": "4",
        "OCRQ_REAPER_INTERVAL_S": "1",
        "OCRQ_WEBHOOK_ALLOW_HTTP": "true",
        "OCRQ_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8,::1/128",
        # names in webhook URLs (fuzzed ones too) are looked up in /etc/hosts only: no test sends DNS queries
        "OCRQ_WEBHOOK_DNS": "hosts",
        "PYTHONUNBUFFERED": "1",
        # each worker's /metrics on its own port: services of parallel tests must not collide on 9100
        "OCRQ_METRICS_PORT": str(free_port()),
        **(store_env or {}),
        **(env or {}),
    }


def _start_service(redis_url: str, base: Path, full_env: dict[str, str], worker: bool, tenant: str) -> Service:
    """The gateway (gunicorn, as deployed) + a worker unless worker=False; the caller stops svc.procs."""
    port = free_port()
    logs = base / f"logs-{port}"
    logs.mkdir(parents=True)
    key = _create_key(redis_url, tenant)
    api_log = open(logs / "api.log", "ab")
    _count_start("gateway")
    api = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "api", "--port", str(port), "--workers", "1", "--threads", "16"],
        env=full_env,
        cwd=ROOT,
        stdout=api_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    svc = Service(
        url=f"http://127.0.0.1:{port}",
        api_key=key,
        tenant=tenant,
        env=full_env,
        redis_url=redis_url,
        procs={"api": api},
        logs=logs,
    )
    try:
        proc = svc.start_worker() if worker else None  # starting side by side with the gateway
        _wait_ready(svc.url, api, 60)
        if proc is not None:
            _wait_worker_ready(logs / "worker.log", proc)
    except BaseException:
        _end_groups(list(svc.procs.values()))
        raise
    return svc


def _create_key(redis_url: str, tenant: str) -> str:
    from shared.tenants import KeyStore

    key, _ = KeyStore(redis_lib.Redis.from_url(redis_url)).create(tenant, "test")
    return key


@pytest.fixture
def make_service(tmp_path: Path, redis_db: str) -> Iterator[MakeService]:
    """Start a gateway (+ a worker unless worker=False) against the test Redis; stops them after.

    For tests that need a stack of their own: a changed setting that is not per-request, a process
    killed, stopped or restarted, or an assertion on the whole Redis. Others share one per module
    (module_service) or run the gateway in process (make_inprocess_service)."""
    started: list[Service] = []

    def make(
        *,
        store_env: dict[str, str] | None = None,
        worker: bool = True,
        env: dict[str, str] | None = None,
        tenant: str = "acme",
    ) -> Service:
        svc = _start_service(redis_db, tmp_path, _service_env(redis_db, tmp_path / "blobs", store_env, env),
                             worker, tenant)
        started.append(svc)
        return svc

    yield make
    _end_groups([proc for svc in started for proc in svc.procs.values()])


def new_tenant(prefix: str = "t") -> str:
    """A tenant name no other test uses: the isolation between tests that share a stack."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def module_service(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                   ) -> Iterator[Callable[..., Service]]:
    """One real stack per module and settings, shared by the module's tests: its own redis-server
    (no other test's flush reaches it), the gateway in gunicorn, a worker unless worker=False, the
    webhook worker with webhooks=True, on the file store or (s3=True) a bucket of its own.

        svc = module_service(worker=False, s3=True, webhooks=True, env={...}).for_new_tenant()

    The first call with given arguments starts the stack; later calls get the same one. Each test
    takes a fresh tenant and key (Service.for_new_tenant), so what it sees through the API is its
    own; a test that asserts on Redis or the store as a whole must count its own tenant's keys only.
    A test must not stop, kill or restart the shared processes (make_service is for that)."""
    stacks: dict[tuple, Service] = {}
    redis_procs: list[subprocess.Popen[bytes]] = []
    base = tmp_path_factory.mktemp("module-stack")

    def get(*, worker: bool = True, s3: bool = False, webhooks: bool = False, env: dict[str, str] | None = None
            ) -> Service:
        ident = (worker, s3, webhooks, tuple(sorted((env or {}).items())))
        if ident in stacks:
            return stacks[ident]
        n = len(redis_procs)  # a stack that failed to start left its redis-server: a new folder each try
        port = free_port()
        redis_procs.append(start_redis(base / f"redis-{n}", port))
        redis_url = f"redis://127.0.0.1:{port}/0"
        store_env = None
        if s3:
            s3_server: S3Server = request.getfixturevalue("s3_server")
            bucket = "m" + uuid.uuid4().hex[:12]
            s3_server.make_bucket(bucket)
            store_env = s3_server.env(bucket)
        full_env = _service_env(redis_url, base / f"blobs-{n}", store_env, env)
        svc = stacks[ident] = _start_service(redis_url, base / f"stack-{n}", full_env, worker, new_tenant())
        if webhooks:
            svc.start_webhooks()
        return svc

    yield get
    _end_groups([proc for svc in stacks.values() for proc in svc.procs.values()])
    stop_all(redis_procs)


class _WsgiAdapter(requests.adapters.BaseAdapter):
    """requests -> a Flask app's test client: the same client code, encoded by requests, with no
    server in between (for make_inprocess_service)."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.client = app.test_client()

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        from urllib.parse import urlsplit

        from requests.structures import CaseInsensitiveDict

        url = urlsplit(request.url or "")
        body = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            body = b"".join(x if isinstance(x, bytes) else x.encode() for x in body)  # a generator: chunked
        if isinstance(body, str):
            body = body.encode()
        resp = self.client.open(url.path, method=request.method, query_string=url.query,
                                headers=list(request.headers.items()), data=body or b"")
        out = requests.Response()
        out.status_code = resp.status_code
        out.reason = resp.status.partition(" ")[2]
        out.headers = CaseInsensitiveDict(resp.headers)
        out._content = resp.get_data()
        out.url = request.url or ""
        out.request = request
        out.encoding = requests.utils.get_encoding_from_headers(out.headers)
        return out

    def close(self) -> None:
        pass


@pytest.fixture
def make_inprocess_service(tmp_path: Path, redis_db: str) -> MakeService:
    """The gateway in this process: create_app(settings) behind Flask's test client, with the real
    Celery sender (jobs land on the real Redis queues), on the test's clean Redis and a store
    (a folder, or S3 over HTTP with store_env). Service.http sends requests to it; svc.url is a
    placeholder host. No worker: for the gateway's contract and its refusals."""

    def make(*, store_env: dict[str, str] | None = None, env: dict[str, str] | None = None,
             tenant: str = "acme") -> Service:
        from api.app import create_app
        from shared.infra.settings import Settings, load_settings

        full_env = _service_env(redis_db, tmp_path / "blobs", store_env, env)
        fields = {k.removeprefix("OCRQ_").lower(): v for k, v in full_env.items() if k.startswith("OCRQ_")}
        settings = load_settings(**{k: v for k, v in fields.items() if k in Settings.model_fields})
        session = requests.Session()
        session.mount("http://gateway.test", _WsgiAdapter(create_app(settings)))
        _count_start("in-process gateway")
        return Service(url="http://gateway.test", api_key=_create_key(redis_db, tenant), tenant=tenant,
                       env=full_env, redis_url=redis_db, logs=tmp_path, http=session)

    return make


@pytest.fixture(scope="session")
def rapid_engine():
    from models.rapid import RapidOcrEngine

    return RapidOcrEngine()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture
def make_s3_service(make_service: MakeService, s3_server: S3Server, s3_bucket: str) -> MakeService:
    """make_service with the S3 store (an S3 server over HTTP) unless a test names its own store."""

    def make(**kw: Any) -> Service:
        kw.setdefault("store_env", s3_server.env(s3_bucket))
        return make_service(**kw)

    return make
