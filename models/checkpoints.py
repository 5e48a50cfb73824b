"""HunyuanOCR weights folders: check them, and pack them for offline transfer.

Workers never download anything, so a weights folder arrives by hand (tar, rsync, a volume) and
the most common failure is an incomplete copy. ``verify`` names exactly what is missing or
truncated before a worker tries to load it; ``pack`` tars a verified folder with a checksum
manifest. Fabricated test weights (``make_tiny``, ``make_random``) are models/random_checkpoints.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tarfile
import time
from pathlib import Path
from typing import Any

MANIFEST = "SHA256SUMS"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "hy.tiktoken")
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


# --------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as err:
        return None, f"{path.name} is not valid JSON ({err.__class__.__name__})"


def _safetensors_problem(path: Path) -> str | None:
    """A shard that is missing, empty or shorter than its own header says (an interrupted copy)."""
    if not path.is_file():
        return f"missing weights file {path.name}"
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"weights file {path.name} is truncated ({size} bytes)"
            (header_len,) = struct.unpack("<Q", head)
            if header_len > size - 8:
                return f"weights file {path.name} is truncated (header larger than the file)"
            header = json.loads(fh.read(header_len))
    except (OSError, ValueError) as err:
        return f"weights file {path.name} is unreadable ({err.__class__.__name__})"
    data_end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + data_end > size:
        return f"weights file {path.name} is truncated ({size} of {8 + header_len + data_end} bytes)"
    return None


def _weights_problems(root: Path) -> list[str]:
    index = root / "model.safetensors.index.json"
    if index.is_file():
        data, err = _read_json(index)
        if err:
            return [err]
        shards = sorted(set((data or {}).get("weight_map", {}).values()))
        if not shards:
            return ["model.safetensors.index.json lists no shards"]
        problems = [_safetensors_problem(root / s) for s in shards]
        return [f"{p} (listed in model.safetensors.index.json)" for p in problems if p]
    if (root / "model.safetensors").exists():
        p = _safetensors_problem(root / "model.safetensors")
        return [p] if p else []
    return ["missing weights: neither model.safetensors nor model.safetensors.index.json"]


def _has_chat_template(root: Path) -> bool:
    if any((root / f).is_file() for f in CHAT_TEMPLATE_FILES):
        return True
    for name in ("tokenizer_config.json", "processor_config.json"):
        data, err = _read_json(root / name) if (root / name).is_file() else (None, None)
        if isinstance(data, dict) and data.get("chat_template"):
            return True
    return False


def verify(path: str | os.PathLike[str]) -> list[str]:
    """Problems that would stop HunyuanOCR loading from ``path``; an empty list means complete."""
    root = Path(path)
    if not root.is_dir():
        return [f"weights folder not found: {root}"]
    problems: list[str] = []

    if not (root / "config.json").is_file():
        problems.append("missing config.json")
    else:
        config, err = _read_json(root / "config.json")
        if err:
            problems.append(err)
        elif isinstance(config, dict) and config.get("model_type") != "hunyuan_vl":
            problems.append(f"config.json model_type is {config.get('model_type')!r}, expected 'hunyuan_vl'")

    if not (root / "tokenizer_config.json").is_file():
        problems.append("missing tokenizer file tokenizer_config.json")
    if not any((root / f).is_file() for f in TOKENIZER_FILES):
        problems.append(f"missing tokenizer file (one of {', '.join(TOKENIZER_FILES)})")

    preproc = root / "preprocessor_config.json"
    proc_cfg = root / "processor_config.json"
    proc_data = _read_json(proc_cfg)[0] if proc_cfg.is_file() else None
    if not preproc.is_file() and not (isinstance(proc_data, dict) and "image_processor" in proc_data):
        problems.append("missing image processor config preprocessor_config.json")

    if not _has_chat_template(root):
        problems.append("missing chat template (chat_template.jinja or chat_template in tokenizer_config.json)")

    problems.extend(_weights_problems(root))
    return problems


# --------------------------------------------------------------------------------------------
# pack
# --------------------------------------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def pack(directory: str | os.PathLike[str], out_tar: str | os.PathLike[str]) -> Path:
    """Tar a verified weights folder with a SHA256SUMS manifest inside it.

    The archive holds one top-level folder named like the source, so on the target:
    ``tar -xf X.tar && cd NAME && sha256sum -c SHA256SUMS && ocrq models verify .``.
    Safetensors are already compressed-looking binary, so the tar is uncompressed (faster, same size).
    """
    root = Path(directory)
    problems = verify(root)
    if problems:
        raise ValueError(f"refusing to pack {root}: " + "; ".join(problems))
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = "".join(f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in files).encode()
    top = root.resolve().name
    out = Path(out_tar)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with tarfile.open(tmp, "w") as tar:
        # The manifest goes first and only into the archive: packing never modifies the source folder.
        info = tarfile.TarInfo(f"{top}/{MANIFEST}")
        info.size = len(manifest)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(manifest))
        for p in files:
            tar.add(p, arcname=f"{top}/{p.relative_to(root).as_posix()}")
    tmp.replace(out)  # never leave a half-written archive under the final name
    return out
