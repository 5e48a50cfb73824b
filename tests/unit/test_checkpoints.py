"""verify / make-tiny / make-random / pack, and the `ocrq models` subcommands."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tarfile
from pathlib import Path

import pytest

from cli.models_cmd import register
from models.checkpoints import MANIFEST, pack, verify
from models.random_checkpoints import count_parameters, make_tiny, random_config


@pytest.fixture(scope="session")
def tiny_sharded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Small shards so the index-plus-shards layout of the released checkpoint is exercised.
    return make_tiny(tmp_path_factory.mktemp("ckpt") / "tiny", max_shard_size="200KB")


@pytest.fixture()
def copy(tiny_sharded: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "weights"
    shutil.copytree(tiny_sharded, dst)
    return dst


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ocrq")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_tiny_checkpoint_is_complete_and_sharded(tiny_sharded: Path) -> None:
    assert verify(tiny_sharded) == []
    assert (tiny_sharded / "model.safetensors.index.json").is_file()
    assert len(list(tiny_sharded.glob("model-*.safetensors"))) >= 2


def test_missing_shard_is_named(copy: Path) -> None:
    shard = sorted(copy.glob("model-*.safetensors"))[-1]
    shard.unlink()
    problems = verify(copy)
    assert problems == [f"missing weights file {shard.name} (listed in model.safetensors.index.json)"]


def test_truncated_shard_is_reported(copy: Path) -> None:
    shard = sorted(copy.glob("model-*.safetensors"))[0]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 100])
    (problem,) = verify(copy)
    assert shard.name in problem and "truncated" in problem


def test_missing_tokenizer_file_is_named(copy: Path) -> None:
    (copy / "tokenizer.json").unlink()
    (problem,) = verify(copy)
    assert "missing tokenizer file" in problem and "tokenizer.json" in problem


def test_missing_config_preprocessor_and_weights(copy: Path) -> None:
    (copy / "config.json").unlink()
    (copy / "preprocessor_config.json").unlink()
    (copy / "processor_config.json").unlink()
    (copy / "model.safetensors.index.json").unlink()
    problems = verify(copy)
    assert "missing config.json" in problems
    assert "missing image processor config preprocessor_config.json" in problems
    assert any("neither model.safetensors nor model.safetensors.index.json" in p for p in problems)


def test_wrong_model_type(copy: Path) -> None:
    (copy / "config.json").write_text('{"model_type": "llama"}')
    assert verify(copy) == ["config.json model_type is 'llama', expected 'hunyuan_vl'"]


def test_missing_folder(tmp_path: Path) -> None:
    assert verify(tmp_path / "nope") == [f"weights folder not found: {tmp_path / 'nope'}"]


def test_pack_writes_a_checkable_manifest(copy: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in copy.iterdir())
    out = pack(copy, tmp_path / "out" / "weights.tar")
    assert sorted(p.name for p in copy.iterdir()) == before  # the source is not modified
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert names[0] == f"weights/{MANIFEST}"
        tar.extractall(tmp_path / "unpacked", filter="data")
    root = tmp_path / "unpacked" / "weights"
    entries = (root / MANIFEST).read_text().splitlines()
    assert len(entries) == len(before)
    for entry in entries:
        digest, name = entry.split("  ", 1)
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest
    assert verify(root) == []


def test_pack_refuses_an_incomplete_folder(copy: Path, tmp_path: Path) -> None:
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="tokenizer"):
        pack(copy, tmp_path / "w.tar")
    assert not (tmp_path / "w.tar").exists()


def test_random_config_is_the_released_size() -> None:
    config = random_config()
    assert config.text_config.hidden_size == 1024 and config.text_config.num_hidden_layers == 24
    assert config.vision_config.num_hidden_layers == 27
    assert 0.9e9 < count_parameters(config) < 1.1e9  # "1B parameters" per the model card


def test_cli_verify_exit_codes(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("models", "verify", str(copy)) == 0
    assert capsys.readouterr().out.startswith("ok:")
    (copy / "tokenizer_config.json").unlink()
    assert cli("models", "verify", str(copy)) == 1
    assert "tokenizer_config.json" in capsys.readouterr().err


def test_cli_make_tiny_and_pack(tmp_path: Path) -> None:
    assert cli("models", "make-tiny", str(tmp_path / "t")) == 0
    assert verify(tmp_path / "t") == []
    assert cli("models", "pack", str(tmp_path / "t"), str(tmp_path / "t.tar")) == 0
    assert (tmp_path / "t.tar").stat().st_size > 0
    assert cli("models", "pack", str(tmp_path / "missing"), str(tmp_path / "m.tar")) == 1
