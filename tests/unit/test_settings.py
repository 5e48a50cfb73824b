import subprocess
import sys

import pytest
from conftest import ROOT

from shared.infra.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_setup(monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("OCRQ_"):
            monkeypatch.delenv(k)
    s = load_settings()
    assert s.engine == "rapidocr" and s.storage_url.startswith("file://") and s.max_side == 2048


@pytest.mark.parametrize(
    "env,name",
    [
        ({"OCRQ_STORAGE_URL": "ftp://x"}, "OCRQ_STORAGE_URL"),
        ({"OCRQ_REDIS_URL": "http://localhost"}, "OCRQ_REDIS_URL"),
        ({"OCRQ_MAX_SIDE": "lots"}, "OCRQ_MAX_SIDE"),
        ({"OCRQ_ENGINE": "tesseract"}, "OCRQ_ENGINE"),
    ],
)
def test_wrong_setting_is_one_line_naming_the_variable(monkeypatch, env, name):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith(name) and "\n" not in str(err.value)


def test_missing_model_path_for_hunyuan_is_named(monkeypatch):
    monkeypatch.setenv("OCRQ_ENGINE", "hunyuan")
    monkeypatch.delenv("OCRQ_MODEL_PATH", raising=False)
    with pytest.raises(SettingsError, match="OCRQ_MODEL_PATH"):
        load_settings()


def test_cli_fails_at_start_with_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "OCRQ_STORAGE_URL": "nope://", "HOME": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "keys", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "OCRQ_STORAGE_URL" in r.stderr
