"""Static checks of the deployment files: docker-compose.yml, the Dockerfiles, .env.example,
Redis/Prometheus/Grafana configuration.

Docker is not needed: the compose file is validated against the Compose Specification JSON schema
(tests/data/compose-spec.json, see tests/data/compose-spec.README.md) and the invariants an
operator relies on are checked one by one. Where the `docker compose` CLI happens to be
installed, `docker compose config` runs as well.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"
DOCKERFILES = [ROOT / "compose" / "Dockerfile", ROOT / "compose" / "Dockerfile.gpu"]

# One-shot services: they run to completion and need no healthcheck.
ONE_SHOT = {"minio-init"}
OCRQ_SERVICES = {"api", "webhooks", "worker-cpu"}  # + every worker-gpuN
CORE_SERVICES = {"redis", "minio", "minio-init", "api", "proxy", "webhooks"}
HA_SERVICES = {"redis-replica", "redis-replica2", "sentinel1", "sentinel2", "sentinel3"}
HA_OVERLAY = ROOT / "compose" / "ha.yml"

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY$|_AUTH$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# Compose variable interpolation (the subset of the spec's "Interpolation" chapter)
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    name: str
    op: str  # "", ":-", "-", ":?", "?", ":+", "+"

    @property
    def required(self) -> bool:
        return self.op in (":?", "?")

    @property
    def has_default(self) -> bool:
        return self.op in (":-", "-")


class MissingVariable(Exception):
    pass


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":?", ":+", "-", "?", "+")


def _closing_brace(s: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(s)):
        if s[k] == "{":
            depth += 1
        elif s[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    raise ValueError(f"unbalanced ${{ in {s!r}")


def interpolate(s: str, env: dict[str, str], refs: list[Ref] | None = None) -> str:
    """Expand ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, ${VAR:+a}, $VAR and $$ like Compose."""
    refs = [] if refs is None else refs
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] != "$":
            out.append(s[i])
            i += 1
        elif s.startswith("$$", i):
            out.append("$")
            i += 2
        elif s.startswith("${", i):
            j = _closing_brace(s, i + 1)
            out.append(_expand(s[i + 2 : j], env, refs))
            i = j + 1
        elif m := _NAME.match(s, i + 1):
            refs.append(Ref(m.group(), ""))
            out.append(env.get(m.group(), ""))
            i = m.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _expand(body: str, env: dict[str, str], refs: list[Ref]) -> str:
    m = _NAME.match(body)
    assert m, f"bad variable reference ${{{body}}}"
    name, rest = m.group(), body[m.end() :]
    op = next((o for o in _OPS if rest.startswith(o)), "")
    assert rest == "" or op, f"bad variable reference ${{{body}}}"
    refs.append(Ref(name, op))
    arg = interpolate(rest[len(op) :], env, refs) if op else ""
    value = env.get(name)
    unset_or_empty = not value
    if op == "":
        return value or ""
    if op == ":-":
        return arg if unset_or_empty else value
    if op == "-":
        return arg if value is None else value
    if op in (":?", "?"):
        if (op == ":?" and unset_or_empty) or value is None:
            raise MissingVariable(f"{name}: {arg}")
        return value
    if op == ":+":
        return "" if unset_or_empty else arg
    return "" if value is None else arg  # "+"


def walk_strings(node, fn):
    """Apply fn to every string (keys stay as they are), returning a new tree."""
    if isinstance(node, dict):
        return {k: walk_strings(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [walk_strings(v, fn) for v in node]
    if isinstance(node, str):
        return fn(node)
    return node


def iter_strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from iter_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from iter_strings(v)
    elif isinstance(node, str):
        yield node


def test_interpolate_follows_the_compose_rules():
    env = {"A": "a", "E": ""}
    assert interpolate("$$A ${A} $A ${B:-b} ${E:-e} ${E-e} ${A:+p} ${B:+p}", env) == "$A a a b e  p "
    assert interpolate("${B:-x${A}y}", env) == "xay"
    refs: list[Ref] = []
    interpolate("redis://:${P:?need P}@${H:-redis:6379}/0", {"P": "s"}, refs)
    assert [(r.name, r.op) for r in refs] == [("P", ":?"), ("H", ":-")]
    with pytest.raises(MissingVariable, match="need P"):
        interpolate("${P:?need P}", {"P": ""})


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------
def parse_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and _NAME.fullmatch(key), f"{path.name}:{n}: not KEY=VALUE: {line!r}"
        assert key not in env, f"{path.name}:{n}: {key} defined twice"
        env[key] = value
    return env


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(raw) -> dict[str, dict]:
    return raw["services"]


@pytest.fixture(scope="module")
def refs(raw) -> list[Ref]:
    class Everything(dict):
        """Every variable set: no `:?` stops the scan, so every reference is seen."""

        def get(self, key, default=None):
            return "x"

    found: list[Ref] = []
    for s in iter_strings(raw):
        interpolate(s, Everything(), found)
    return found


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


def sentinel(name: str) -> str:
    return f"SENTINEL{name}SENTINEL".replace("_", "")


@pytest.fixture(scope="module")
def rendered(raw, refs) -> dict:
    """The compose file as Compose would see it, every variable set to a recognisable sentinel."""
    env = {r.name: sentinel(r.name) for r in refs}
    return walk_strings(raw, lambda s: interpolate(s, env))


@pytest.fixture(scope="module")
def rendered_example(raw, env_example) -> dict:
    """The compose file with .env.example's values; empty required secrets get a dummy."""
    env = {k: (v or "x" * 32) for k, v in env_example.items()}
    return walk_strings(raw, lambda s: interpolate(s, env))


def gpu_workers(services: dict) -> dict[str, dict]:
    return {n: s for n, s in services.items() if re.fullmatch(r"worker-gpu\d+", n)}


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def command_text(service: dict) -> str:
    cmd = service.get("command") or ""
    return " ".join(cmd) if isinstance(cmd, list) else cmd


# ---------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------
def _validate(doc: dict, schema: dict) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:20])


def test_vendored_schema_is_the_compose_spec():
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema.get("$id") == "compose_spec.json"
    assert schema.get("title") == "Compose Specification"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_compose_file_matches_schema(raw):
    _validate(raw, json.loads(SCHEMA_FILE.read_text()))


def test_compose_file_matches_schema_after_interpolation(rendered_example):
    _validate(rendered_example, json.loads(SCHEMA_FILE.read_text()))


def test_compose_file_matches_schema_shipped_by_check_jsonschema(raw):
    """A newer schema, when the check-jsonschema package is installed (it vendors the upstream file)."""
    import importlib.util

    spec = importlib.util.find_spec("check_jsonschema")  # located, not imported: no need for its deps
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("check-jsonschema is not installed")
    res = Path(next(iter(spec.submodule_search_locations))) / "builtin_schemas" / "vendor" / "compose-spec.json"
    if not res.is_file():
        pytest.skip("this check-jsonschema version ships no compose-spec.json")
    _validate(raw, json.loads(res.read_text()))


def test_compose_interpolation_fails_without_env():
    """No secret has a default: with an empty environment, Compose must refuse the file."""
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    with pytest.raises(MissingVariable):
        walk_strings(doc, lambda s: interpolate(s, {}))


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_docker_compose_config(tmp_path, env_example):
    """`docker compose config` parses the file like the real tool; needs only the CLI plugin."""
    if subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode != 0:
        pytest.skip("docker compose plugin not installed")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v or 'x' * 32}\n" for k, v in env_example.items()))
    for profile in ("", "cpu", "gpu", "ops", "ha"):
        args = ["docker", "compose", "-f", str(COMPOSE_FILE), "--env-file", str(env_file)]
        args += ["--profile", profile] if profile else []
        r = subprocess.run([*args, "config", "-q"], check=False, capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------------------
# Services and profiles
# ---------------------------------------------------------------------------------------
def test_expected_services_and_profiles(services):
    assert CORE_SERVICES <= services.keys()
    assert gpu_workers(services), "at least one worker-gpuN service"
    for name in CORE_SERVICES:
        assert not services[name].get("profiles"), f"{name} must start without a profile"
    # `--profile cpu up -d` must start the CPU worker *instead of* the GPU one (README, deploy.md)
    for name, svc in gpu_workers(services).items():
        assert svc.get("profiles") == ["gpu"], f"{name} must start only with --profile gpu"
    assert services["worker-cpu"]["profiles"] == ["cpu"]
    for name in HA_SERVICES:
        assert services[name]["profiles"] == ["ha"], name
    no_profile = {n for n, s in services.items() if not s.get("profiles")}
    assert no_profile == CORE_SERVICES, f"services that start without a profile: {sorted(no_profile)}"
    for name in ("flower", "prometheus", "grafana"):
        assert services[name]["profiles"] == ["ops"], name


def test_ocrq_commands(services):
    assert command_text(services["api"]).startswith("ocrq api --host 0.0.0.0 --port 8080 --workers ")
    assert "--threads" in command_text(services["api"])
    assert command_text(services["webhooks"]) == "ocrq webhooks"
    assert command_text(services["worker-cpu"]).startswith("ocrq worker --gpus none --queues ")
    for name, svc in gpu_workers(services).items():
        # the reserved GPU is index 0 inside the container
        assert command_text(svc).startswith("ocrq worker --gpus 0 --queues "), name


def test_ocrq_services_share_settings(rendered):
    svcs = rendered["services"]
    for name in OCRQ_SERVICES | gpu_workers(svcs).keys():
        env = environment(svcs[name])
        assert env["OCRQ_REDIS_URL"] == f"redis://:{sentinel('REDIS_PASSWORD')}@{sentinel('REDIS_ADDR')}/0", name
        assert env["OCRQ_STORAGE_URL"] == "s3://ocrq", name
        assert env["OCRQ_S3_ENDPOINT"] == sentinel("OCRQ_S3_ENDPOINT"), name
        assert env["OCRQ_S3_ACCESS_KEY"] == sentinel("OCRQ_S3_ACCESS_KEY"), name
        assert env["OCRQ_S3_SECRET_KEY"] == sentinel("OCRQ_S3_SECRET_KEY"), name
        assert env["OCRQ_METRICS_PORT"] == "9100", name
        assert "OCRQ_RETENTION_S" in env and "OCRQ_BROKER_URL" in env, name
    assert environment(svcs["worker-cpu"])["OCRQ_ENGINE"] == "rapidocr"
    for name, svc in gpu_workers(svcs).items():
        env = environment(svc)
        assert env["OCRQ_ENGINE"] == sentinel("OCRQ_GPU_ENGINE"), name
        assert env["OCRQ_MODEL_PATH"] == sentinel("OCRQ_MODEL_PATH"), name


def test_compose_defaults(raw, refs):
    """Defaults that matter when .env sets only the required values."""
    env = {r.name: "x" * 32 for r in refs if r.required}
    svcs = walk_strings(raw, lambda s: interpolate(s, env))["services"]
    gpu = environment(svcs["worker-gpu0"])
    for name in OCRQ_SERVICES | gpu_workers(svcs).keys():
        env = environment(svcs[name])
        assert env["OCRQ_REDIS_URL"] == f"redis://:{'x' * 32}@redis:6379/0", name
        assert env["OCRQ_S3_ENDPOINT"] == "minio:9000" and env["OCRQ_S3_SECURE"] == "false", name
    assert gpu["OCRQ_ENGINE"] == "hunyuan"
    assert gpu["OCRQ_MODEL_PATH"] == "/models/HunyuanOCR"
    assert environment(svcs["api"])["OCRQ_RETENTION_S"] == "604800"
    assert svcs["proxy"]["ports"] == ["127.0.0.1:8080:8080"]
    assert not svcs["api"].get("ports"), "the gateway is reached through the proxy only"
    mount = next(v for v in svcs["worker-gpu0"]["volumes"] if v["target"] == "/models")
    assert mount["source"] == "./var/models"


# ---------------------------------------------------------------------------------------
# Health checks and start order
# ---------------------------------------------------------------------------------------
def test_every_long_running_service_has_a_healthcheck(services):
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert svc.get("restart") == "no", f"{name} is one-shot: restart must be 'no'"
            continue
        hc = svc.get("healthcheck")
        assert hc, f"{name}: no healthcheck"
        assert not hc.get("disable"), f"{name}: healthcheck disabled"
        test = hc["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL") and test != ["NONE"], f"{name}: {test}"
        for key in ("interval", "timeout", "retries"):
            assert key in hc, f"{name}: healthcheck without {key}"
        assert svc.get("restart") in ("unless-stopped", "always"), f"{name}: restart policy"


def _hc(svc: dict) -> str:
    return " ".join(svc["healthcheck"]["test"][1:])


def test_healthchecks_probe_the_right_endpoint(services):
    assert "http://127.0.0.1:8080/healthz" in _hc(services["api"])
    for name in ("webhooks", "worker-cpu", *gpu_workers(services)):
        assert "http://127.0.0.1:9100/healthz" in _hc(services[name]), name
        assert _hc(services[name]).startswith("python -c "), name
    assert _hc(services["api"]).startswith("python -c ")
    assert "/minio/health/live" in _hc(services["minio"])
    # redis-cli reads the password from REDISCLI_AUTH, the same required variable as requirepass.
    assert "redis-cli" in _hc(services["redis"]) and "ping" in _hc(services["redis"])
    assert environment(services["redis"])["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")


def test_depends_on_uses_conditions(services):
    for name, svc in services.items():
        deps = svc.get("depends_on")
        if deps is None:
            continue
        assert isinstance(deps, dict), f"{name}: depends_on must be the long form with conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            cond = (spec or {}).get("condition")
            if dep in ONE_SHOT:
                assert cond == "service_completed_successfully", f"{name} -> {dep}: {cond}"
            else:
                assert cond == "service_healthy", f"{name} -> {dep}: {cond}"
                assert services[dep].get("healthcheck"), f"{name} waits for {dep}, which has no healthcheck"
    for name in OCRQ_SERVICES | gpu_workers(services).keys():
        deps = services[name]["depends_on"]
        assert {"redis", "minio", "minio-init"} <= deps.keys(), name
    assert services["minio-init"]["depends_on"] == {"minio": {"condition": "service_healthy"}}


# ---------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------
def _redis_conf() -> dict[str, list[str]]:
    conf: dict[str, list[str]] = {}
    for line in (ROOT / "compose" / "redis.conf").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf.setdefault(key.lower(), []).append(value.strip())
    return conf


def test_redis_persistence_and_memory(services):
    conf = _redis_conf()
    assert conf["appendonly"] == ["yes"]
    assert conf["appendfsync"] == ["everysec"]
    assert conf["maxmemory-policy"] == ["noeviction"]
    assert re.fullmatch(r"[1-9]\d*(kb|mb|gb)?", conf["maxmemory"][-1], re.IGNORECASE)
    assert "requirepass" not in conf, "the password belongs in .env, not in redis.conf"
    cmd = command_text(services["redis"])
    assert "redis-server /usr/local/etc/redis/redis.conf" in cmd
    mounts = [v for v in services["redis"]["volumes"] if isinstance(v, dict)]
    assert any(m["source"] == "./compose/redis.conf" and m["target"] == "/usr/local/etc/redis/redis.conf"
               and m.get("read_only") for m in mounts)
    assert any(isinstance(v, str) and v.endswith(":/data") for v in services["redis"]["volumes"]), "data volume"
    # maxmemory may be raised from .env; the policy must never be overridden on the command line.
    assert '--maxmemory "$$REDIS_MAXMEMORY"' in cmd
    assert "maxmemory-policy" not in cmd and "appendonly" not in cmd and "appendfsync" not in cmd


def test_redis_requires_a_password(services, rendered):
    cmd = command_text(services["redis"])
    # $$VAR is the container's environment at run time, which compose fills from required .env values.
    assert '--requirepass "$$REDIS_PASSWORD"' in cmd
    assert environment(services["redis"])["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert environment(rendered["services"]["redis"])["REDIS_PASSWORD"] == sentinel("REDIS_PASSWORD")


# ---------------------------------------------------------------------------------------
# Network exposure
# ---------------------------------------------------------------------------------------
def test_backends_publish_no_ports(services):
    for name in ("redis", "minio", "minio-init"):
        assert not services[name].get("ports"), f"{name} must not publish ports"
    for name, svc in services.items():
        assert svc.get("network_mode") != "host", f"{name}: network_mode host"


def test_published_ports_default_to_loopback(raw, env_example):
    svcs = walk_strings(raw, lambda s: interpolate(s, {k: v or "x" for k, v in env_example.items()}))["services"]
    for name, svc in svcs.items():
        for port in svc.get("ports") or []:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"


# ---------------------------------------------------------------------------------------
# GPUs and model weights
# ---------------------------------------------------------------------------------------
def test_gpu_workers_reserve_their_own_device(services):
    seen: set[str] = set()
    for name, svc in gpu_workers(services).items():
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert len(devices) == 1, name
        dev = devices[0]
        assert dev.get("driver") == "nvidia", name
        assert "gpu" in dev.get("capabilities", []), name
        ids = dev.get("device_ids")
        assert ids and all(isinstance(i, str) for i in ids), f"{name}: device_ids as strings"
        assert "count" not in dev, f"{name}: count and device_ids are exclusive"
        assert not seen & set(ids), f"{name}: GPU {ids} already reserved by another worker"
        seen |= set(ids)
        assert str(int(name.removeprefix("worker-gpu"))) in ids, f"{name} should own GPU {name[-1]}"
        assert svc.get("shm_size"), f"{name}: shm_size for CUDA IPC"
    assert "worker-gpu" in services["worker-gpu0"]["networks"]["default"]["aliases"]


def test_model_weights_mounted_read_only(services):
    for name, svc in gpu_workers(services).items():
        mounts = [v for v in svc["volumes"] if isinstance(v, dict) and v.get("target") == "/models"]
        assert len(mounts) == 1, name
        m = mounts[0]
        assert m["type"] == "bind" and m.get("read_only") is True, name
        assert m["source"].startswith("${OCRQ_MODELS_DIR:-./"), f"{name}: configurable host folder"
        assert environment(svc)["OCRQ_MODEL_PATH"].startswith("${OCRQ_MODEL_PATH:-/models/"), name


# ---------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------
_URL_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://([^/@\s:]*):([^@\s]*)@", re.IGNORECASE)


def test_no_literal_secrets(services, rendered, refs):
    sentinels = {sentinel(r.name) for r in refs}
    for name, svc in rendered["services"].items():
        raw_env = environment(services[name])
        for key, value in environment(svc).items():
            if SECRET_NAME.search(key):
                assert value in sentinels, f"{name}.{key} must be a ${{VAR}} reference, not a literal"
                assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}", raw_env[key]), (
                    f"{name}.{key} must be required (${{VAR:?msg}}), without a default"
                )
        for text in iter_strings(svc):
            for m in _URL_USERINFO.finditer(text):
                assert m.group(2) in sentinels, f"{name}: password in URL is a literal: {text}"
    for ref in refs:
        if SECRET_NAME.search(ref.name) and ref.name != "OCRQ_S3_ACCESS_KEY":
            assert not ref.has_default, f"${{{ref.name}}} has a default value"


def test_secrets_are_required(refs):
    required = {r.name for r in refs if r.required}
    assert {
        "REDIS_PASSWORD",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "OCRQ_S3_ACCESS_KEY",
        "OCRQ_S3_SECRET_KEY",
        "GRAFANA_ADMIN_PASSWORD",
        "FLOWER_BASIC_AUTH",
    } <= required


def test_env_example_defines_every_variable(refs, env_example):
    used = {r.name for r in refs}
    missing = sorted(used - env_example.keys())
    assert not missing, f".env.example lacks {missing}"
    required = {r.name for r in refs if r.required}
    assert required <= env_example.keys()
    unused = sorted(k for k in env_example.keys() - used if not k.startswith("COMPOSE_"))
    assert not unused, f".env.example defines variables docker-compose.yml never reads: {unused}"


def test_env_example_holds_no_secret_values(env_example):
    for key, value in env_example.items():
        if SECRET_NAME.search(key) and key != "OCRQ_S3_ACCESS_KEY":
            assert value == "", f".env.example must leave {key} empty"


def test_dockerignore_keeps_secrets_and_junk_out():
    entries = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for must in (".git", ".venv", "var", ".env", "test-output", ".pytest_cache", "**/__pycache__"):
        assert must in entries, f".dockerignore lacks {must}"
    for keep in ("api", "workers", "shared", "models", "cli", "pyproject.toml", "README.md"):
        assert keep not in entries, f".dockerignore must not exclude {keep}"


# ---------------------------------------------------------------------------------------
# Images and Dockerfiles
# ---------------------------------------------------------------------------------------
_PINNED = re.compile(r"^[\w./-]+(:[\w.-]*\d[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return bool(_PINNED.match(image))
    name, _, tag = image.rpartition(":")
    return (bool(name) and "/" not in tag and tag != "latest" and any(c.isdigit() for c in tag)
            and bool(_PINNED.match(image)))


def test_third_party_images_are_pinned(raw):
    svcs = walk_strings(raw, lambda s: interpolate(s, {}) if "?" not in s else s)["services"]
    for name, svc in svcs.items():
        if "build" in svc:
            continue  # built here from compose/Dockerfile*
        assert _pinned(svc["image"]), f"{name}: image {svc['image']!r} is not pinned"


@dataclass
class Stage:
    name: str
    base: str
    user: str | None
    healthcheck: bool


def parse_dockerfile(path: Path) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text())
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr, rest = instr.upper(), rest.strip()
        if instr == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        elif instr == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), parts[0])
            alias = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            parent = next((s for s in stages if s.name == image), None)
            stages.append(Stage(alias, image, parent.user if parent else None,
                                parent.healthcheck if parent else False))
        elif instr == "USER":
            stages[-1].user = rest
        elif instr == "HEALTHCHECK":
            stages[-1].healthcheck = not rest.upper().startswith("NONE")
    return stages


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lint(path):
    stages = parse_dockerfile(path)
    assert stages, f"{path.name}: no FROM"
    names = {s.name for s in stages}
    for s in stages:
        if s.base in names:
            continue
        assert _pinned(s.base), f"{path.name}: FROM {s.base!r} is not pinned to a version or digest"
    shipped = [s for s in stages if not s.name.startswith("build")]
    assert shipped and shipped[-1] is stages[-1], f"{path.name}: the default (last) stage must be a runtime stage"
    for s in shipped:
        assert s.user, f"{path.name}: stage {s.name!r} runs as root (no USER)"
        user = s.user.split(":")[0]
        assert user not in ("root", "0"), f"{path.name}: stage {s.name!r} runs as root"
        assert s.healthcheck, f"{path.name}: stage {s.name!r} has no HEALTHCHECK"


def test_cpu_dockerfile_pins_cpu_torch():
    text = (ROOT / "compose" / "Dockerfile").read_text()
    assert "ARG TORCH_VERSION=2.13.0" in text
    assert "https://download.pytorch.org/whl/cpu" in text


def test_gpu_dockerfile_options():
    text = (ROOT / "compose" / "Dockerfile.gpu").read_text()
    stages = {s.name: s for s in parse_dockerfile(ROOT / "compose" / "Dockerfile.gpu")}
    assert stages.keys() >= {"build", "baked", "runtime"}
    assert stages["runtime"].base == "base" and stages["baked"].base == "base"
    assert "ARG INSTALL_VLLM=0" in text and '"/src[vllm,otel]"' in text and "[gpu,vllm" not in text
    assert '"/src[gpu,otel]"' in text
    assert "COPY --from=weights" in text and "ocrq models verify" in text
    assert "HF_HUB_OFFLINE=1" in text


# ---------------------------------------------------------------------------------------
# MinIO init, Prometheus, Grafana, nginx
# ---------------------------------------------------------------------------------------
def test_minio_init_script(services):
    script = ROOT / "compose" / "minio-init.sh"
    if shutil.which("sh"):
        r = subprocess.run(["sh", "-n", str(script)], check=False, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    text = script.read_text()
    for needle in ("mc mb --ignore-existing", "mc ilm import", '"Expiration": {"Days": $DAYS}',
                   "mc anonymous set none", "mc admin policy attach"):
        assert needle in text, needle
    init = services["minio-init"]
    assert init["entrypoint"] == ["/bin/sh", "/minio-init.sh"]
    assert any(v["source"] == "./compose/minio-init.sh" for v in init["volumes"])
    assert environment(init)["OCRQ_RETENTION_S"] == "${OCRQ_RETENTION_S:-604800}"


@pytest.mark.parametrize("retention_s,days", [("604800", 7), ("60", 1), ("86401", 2), ("86400", 1)])
def test_minio_init_rounds_retention_up_to_days(tmp_path, retention_s, days):
    """Run the script with a fake `mc` that records its calls."""
    if not shutil.which("sh"):
        pytest.skip("no sh")
    log = tmp_path / "mc.log"
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "mc"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncat >> {log}\n')
    fake.chmod(0o755)
    env = {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "MINIO_ROOT_USER": "root",
        "MINIO_ROOT_PASSWORD": "rootpassword",
        "OCRQ_S3_ACCESS_KEY": "app",
        "OCRQ_S3_SECRET_KEY": "appsecret",
        "OCRQ_RETENTION_S": retention_s,
        "MC_CONFIG_DIR": str(tmp_path / "mc-config"),
    }
    r = subprocess.run(["sh", str(ROOT / "compose" / "minio-init.sh")], env=env, check=False, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert r.returncode == 0, r.stderr
    calls = log.read_text()
    assert f'"Expiration": {{"Days": {days}}}' in calls
    assert "mb --ignore-existing ocrq/ocrq" in calls
    assert "admin policy attach ocrq ocrq-rw --user app" in calls


def test_minio_init_refuses_root_as_app_user(tmp_path):
    if not shutil.which("sh"):
        pytest.skip("no sh")
    env = {"PATH": "/usr/bin:/bin", "MINIO_ROOT_USER": "same", "MINIO_ROOT_PASSWORD": "p" * 8,
           "OCRQ_S3_ACCESS_KEY": "same", "OCRQ_S3_SECRET_KEY": "s" * 8}
    r = subprocess.run(["sh", str(ROOT / "compose" / "minio-init.sh")], env=env, check=False,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "must differ" in r.stderr


def test_prometheus_scrapes_api_and_workers(services):
    prom = yaml.safe_load((ROOT / "compose" / "prometheus.yml").read_text())
    targets: dict[str, int] = {}
    for job in prom["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            assert job.get("metrics_path", "/metrics") == "/metrics"
            for n in sd["names"]:
                targets[n] = sd["port"]
    assert targets.get("api") == 8080
    assert targets.get("webhooks") == 9100
    assert targets.get("worker-cpu") == 9100
    assert targets.get("worker-gpu") == 9100
    names = set(services) | {a for s in services.values()
                             for a in ((s.get("networks") or {}).get("default") or {}).get("aliases", [])}
    assert set(targets) <= names, f"Prometheus scrapes names compose does not define: {set(targets) - names}"
    prom_mount = services["prometheus"]["volumes"][0]
    assert prom_mount["source"] == "./compose/prometheus.yml"


# Metric names the app exposes (the contract in docs/deploy.md "Metrics").
METRICS = {
    "ocrq_http_requests_total", "ocrq_http_request_seconds", "ocrq_jobs_total", "ocrq_jobs_processed_total",
    "ocrq_queue_depth", "ocrq_job_stage_seconds", "ocrq_engine_seconds", "ocrq_batch_size",
    "ocrq_gpu_memory_bytes", "ocrq_webhook_attempts_total", "up",
}


def _panels(dash: dict):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def test_grafana_dashboard():
    dash = json.loads((ROOT / "compose" / "grafana" / "dashboards" / "ocrq.json").read_text())
    assert dash["uid"] and dash["title"]
    exprs = [t["expr"] for p in _panels(dash) for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        for metric in re.findall(r"\b(ocrq_[a-z_]+|up)\b(?=\s*[{\[)]|\s*$|\s*[-+*/])", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            assert metric in METRICS or base in METRICS, f"unknown metric {metric} in {expr}"
    joined = "\n".join(exprs)
    for needed in ("ocrq_queue_depth", "ocrq_jobs_total", "ocrq_jobs_processed_total",
                   "ocrq_job_stage_seconds_bucket", "ocrq_webhook_attempts_total", "ocrq_engine_seconds_bucket",
                   "ocrq_batch_size", "ocrq_gpu_memory_bytes", "ocrq_http_requests_total"):
        assert needed in joined, f"dashboard does not show {needed}"
    assert "by (le, stage)" in joined, "latency per stage"
    ds = yaml.safe_load((ROOT / "compose" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    var = next(v for v in dash["templating"]["list"] if v["type"] == "datasource")
    assert var["current"]["value"] == uid
    prov = yaml.safe_load((ROOT / "compose" / "grafana" / "provisioning" / "dashboards" / "ocrq.yml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"


def _nginx_directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.endswith(";"):
            key, _, value = line[:-1].partition(" ")
            out.setdefault(key, []).append(value.strip())
    return out


def _seconds(v: str) -> int:
    m = re.fullmatch(r"(\d+)(s|m)?", v)
    assert m, v
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def test_nginx_proxy_is_shipped(services):
    """The proxy service with compose/nginx.conf: buffered requests, read timeouts, per-IP limits."""
    from shared.infra.settings import Settings

    text = (ROOT / "compose" / "nginx.conf").read_text()
    d = _nginx_directives(text)
    assert d["server"] == ["api:8080"] and d["listen"] == ["8080"]
    assert "proxy_pass http://ocrq_api" in text
    assert d["proxy_request_buffering"] == ["on"], "the request must be read whole before gunicorn sees it"
    assert 0 < _seconds(d["client_header_timeout"][0]) <= 15
    assert 0 < _seconds(d["client_body_timeout"][0]) <= 60
    assert d["limit_conn_zone"] and d["limit_conn"][0].startswith("ocrq_per_ip ")
    size = d["client_max_body_size"][0]
    assert size.endswith("m")
    limit = Settings.model_fields["max_upload_bytes"].default
    assert limit <= int(size[:-1]) * 1024 * 1024 <= limit + 2 * 1024 * 1024, "a little above OCRQ_MAX_UPLOAD_BYTES"
    wait_max = Settings.model_fields["wait_max_s"]
    wait_le = max(m.le for m in wait_max.metadata if hasattr(m, "le"))
    assert _seconds(d["proxy_read_timeout"][0]) > wait_le, "no long-poll cut off by the proxy"
    assert re.search(r"location\s*=\s*/metrics\s*\{[^}]*return 404", text), "/metrics must not be public"
    proxy = services["proxy"]
    assert _pinned(proxy["image"]) and proxy["image"].startswith("nginx:")
    mount = proxy["volumes"][0]
    assert mount["source"] == "./compose/nginx.conf" and mount["target"] == "/etc/nginx/nginx.conf"
    assert mount.get("read_only") is True
    assert proxy["ports"] == ["${API_BIND:-127.0.0.1}:${API_PORT:-8080}:8080"]
    assert proxy["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert "/proxy-healthz" in _hc(proxy) and "location = /proxy-healthz" in text
    assert not (ROOT / "compose" / "nginx.conf.example").exists(), "one nginx config, the shipped one"


def test_ha_profile(services, raw):
    from shared.infra.redis_client import parse_sentinel_url

    # two replicas: after a failover the new primary still has one to confirm submits
    for name in ("redis-replica", "redis-replica2"):
        replica = command_text(services[name])
        assert "--replicaof redis 6379" in replica and '--masterauth "$$REDIS_PASSWORD"' in replica, name
        assert f"--replica-announce-ip {name} " in replica, name
        assert any(str(v).startswith(f"{name}-data:") for v in services[name]["volumes"]), name
    assert '--masterauth "$$REDIS_PASSWORD"' in command_text(services["redis"]), "redis may become a replica"
    monitors = set()
    for name in ("sentinel1", "sentinel2", "sentinel3"):
        svc = services[name]
        cmd = command_text(svc)
        m = re.search(r"sentinel monitor (\S+) redis 6379 (\d+)", cmd)
        assert m, name
        monitors.add((m.group(1), int(m.group(2))))
        assert "--sentinel" in cmd and "requirepass $$REDIS_PASSWORD" in cmd, name
        assert environment(svc)["SENTINEL_NAME"] == name
        assert any(str(v).startswith(f"{name}-data:") for v in svc["volumes"]), f"{name}: its config survives"
        assert "redis-cli -p 26379" in _hc(svc)
    ((master, quorum),) = monitors
    assert quorum == 2, "a majority of three Sentinels"

    overlay = yaml.safe_load(HA_OVERLAY.read_text())
    env = {"REDIS_PASSWORD": "pw"}
    for name in OCRQ_SERVICES | gpu_workers(services).keys():
        o = overlay["services"][name]
        url = interpolate(o["environment"]["OCRQ_REDIS_URL"], env)
        cfg = parse_sentinel_url(url)
        assert cfg.sentinels == (("sentinel1", 26379), ("sentinel2", 26379), ("sentinel3", 26379)), name
        assert (cfg.master_name, cfg.password, cfg.sentinel_password) == (master, "pw", "pw"), name
        assert set(o["depends_on"]) == HA_SERVICES, name
        assert o["environment"]["OCRQ_REDIS_MIN_REPLICAS"] == "1", name
        assert "${REDIS_PASSWORD:?" in o["environment"]["OCRQ_REDIS_URL"], "no default for the secret"
    # the overlay adds nothing but the URL and the start order
    assert set(overlay["services"]) == OCRQ_SERVICES | gpu_workers(services).keys()


def test_docs_agree_with_profiles():
    readme = (ROOT / "README.md").read_text()
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    for text in (readme, deploy):
        assert "--profile gpu up -d" in text
        assert "--profile cpu up -d" in text
        assert "--scale worker-gpu0=0" not in text, "worker-gpu0 has a profile: nothing to scale down"
    assert "compose/ha.yml" in deploy and "--profile ha" in deploy
    assert "nginx.conf.example" not in readme + deploy


def test_deploy_doc_covers_the_runbook(services):
    text = (ROOT / "docs" / "deploy.md").read_text()
    headings = set(re.findall(r"^#+ (.+)$", text, re.MULTILINE))
    for h in ("Deploy on one GPU box", "Deploy on several machines", "Offline install", "Operate",
              "HTTPS behind nginx", "Backups", "What happens on restart"):
        assert h in headings, f"docs/deploy.md lacks the section {h!r}"
    for cmd in ("ocrq models pack", "pip download", "docker save", "docker load", "mc mirror",
                "OCRQ_BROKER_URL=amqp://", "Sentinel"):
        assert cmd in text, cmd
    # every service named in `docker compose ... <service>` commands exists
    for m in re.finditer(r"docker compose (?:--profile \w+ )*(?:up -d|exec|logs[^\n]*?|build|run --rm --no-deps)"
                         r" ((?:[a-z][a-z0-9-]*[ ]?)+)", text):
        for word in m.group(1).split():
            if word in ("ocrq", "python", "redis-cli", "sh", "mc", "wget"):
                break
            assert word in services or word.startswith("worker-gpu"), f"docs/deploy.md names unknown service {word!r}"


def test_the_gateway_image_is_built_without_an_engine(services):
    """api and webhooks load no engine: their image is the lean install (no torch, onnxruntime, transformers),
    with OpenTelemetry (off unless configured), as every image has."""
    for name in ("api", "webhooks"):
        assert services[name]["build"]["args"]["EXTRAS"] == "otel", name
    assert services["worker-cpu"]["build"]["args"]["EXTRAS"] == "cpu,otel"
    text = (ROOT / "compose" / "Dockerfile").read_text()
    assert 'pip install -c /tmp/constraints.txt "/src${EXTRAS:+[${EXTRAS}]}"' in text
    assert "import rapidocr" in text  # the worker image proves its engine imports
