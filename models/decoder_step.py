"""One HunyuanOCR decode step over a static KV cache: the part of generation that runs per token.

Eager ``generate`` spends ~1,600 PyTorch ops of host time per step on a 24-layer decoder
(DynamicCache growth, mask building, logits processors, stopping criteria), while the GPU's share of
a batch-1 step is a fraction of a millisecond. This module keeps only the arithmetic:

- the cache is preallocated, ``[slots, kv_heads, slot_tokens, head_dim]`` per layer, and every slot
  holds ONE request's sequence from column 0 (no padding: a row's length is its own ``wlen``);
- a step reads the last token, its position and write column per row from device buffers, writes the
  new K/V at that column, attends over the columns below a length bucket with a per-row mask, and
  applies the repetition penalty (a per-row seen-token bitmap), greedy argmax and the EOS test on
  the device, then advances its own buffers: no host round trip between steps;
- at decode the four xdrope axes carry the same position, so RoPE is plain 1-D RoPE on that number;
- grouped-query attention multiplies each KV head by its group of query heads through broadcasting
  (``[rows, kv, group, 1, d] @ [rows, kv, 1, d, T]``), so K/V are never repeated in memory.

Steps run in (slot count, length) buckets so the work per step follows the live rows, not the
worst case. On CUDA each bucket's step is captured once as a CUDA graph and replayed (static
buffers, no allocations, no syncs inside); on a CPU the same function runs eagerly (or compiled
with ``compile_step``), so the tests exercise exactly the arithmetic the GPU replays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

SLOT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LENGTH_BUCKETS = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


def bucket(value: int, buckets: Sequence[int], ceiling: int) -> int:
    """The smallest bucket >= value, never above ``ceiling`` (which is always a valid size itself)."""
    for b in buckets:
        if b >= value:
            return min(b, ceiling)
    return ceiling


@dataclass(frozen=True)
class Geometry:
    """What the cache must hold: decoder shape, slot count and tokens per slot."""

    layers: int
    kv_heads: int
    q_heads: int
    head_dim: int
    vocab: int
    slots: int
    slot_tokens: int  # prompt + answer (+ the check interval of slack) of one request
    out_tokens: int  # generated tokens kept per slot

    def bytes_per_slot(self, dtype: torch.dtype) -> int:
        elem = torch.empty((), dtype=dtype).element_size()
        return 2 * self.layers * self.kv_heads * self.slot_tokens * self.head_dim * elem


def _rotate_half_matrix(dim: int, device: torch.device) -> torch.Tensor:
    """R with ``x @ R == rotate_half(x)`` exactly (entries 0 and +-1): one op instead of four."""
    half = dim // 2
    rot = torch.zeros(dim, dim, device=device)
    idx = torch.arange(half, device=device)
    rot[idx + half, idx] = -1.0  # out[:half] = -x[half:]
    rot[idx, idx + half] = 1.0  # out[half:] = x[:half]
    return rot


@dataclass(frozen=True)
class _Layer:
    """One decoder layer's weights, with q/k/v and gate/up fused into single matmuls."""

    block: Any
    qkv_weight: torch.Tensor
    qkv_bias: torch.Tensor | None
    gate_up_weight: torch.Tensor


def _fuse(block: Any) -> _Layer:
    attn, mlp = block.self_attn, block.mlp
    projs = (attn.q_proj, attn.k_proj, attn.v_proj)
    bias = torch.cat([p.bias for p in projs]) if projs[0].bias is not None else None
    return _Layer(
        block=block,
        qkv_weight=torch.cat([p.weight for p in projs]).detach(),
        qkv_bias=bias.detach() if bias is not None else None,
        gate_up_weight=torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).detach(),
    )


class DecoderStep:
    """The static cache, the per-row state buffers and the bucketed (graph-captured) step."""

    def __init__(
        self,
        model: Any,
        geometry: Geometry,
        *,
        eos_ids: Sequence[int],
        repetition_penalty: float,
        use_cuda_graphs: bool | None = None,
        compile_step: bool = False,
    ) -> None:
        text = model.model.language_model
        self.text = text
        self.lm_head = model.lm_head
        self.geo = g = geometry
        param = next(text.parameters())
        self.device, self.dtype = param.device, param.dtype
        dev = self.device
        self.k = [torch.zeros(g.slots, g.kv_heads, g.slot_tokens, g.head_dim, device=dev, dtype=self.dtype)
                  for _ in range(g.layers)]
        self.v = [torch.zeros_like(t) for t in self.k]
        # Per-row state, read and advanced by the step itself.
        self.tokens = torch.zeros(g.slots, dtype=torch.long, device=dev)  # last token of each row
        self.positions = torch.zeros(g.slots, dtype=torch.long, device=dev)  # its RoPE position
        self.wlen = torch.zeros(g.slots, dtype=torch.long, device=dev)  # its cache column
        self.ngen = torch.zeros(g.slots, dtype=torch.long, device=dev)  # tokens generated so far
        self.seen = torch.zeros(g.slots, g.vocab, dtype=torch.bool, device=dev)  # repetition penalty
        self.done = torch.ones(g.slots, dtype=torch.bool, device=dev)  # EOS seen (free rows: done)
        self.out = torch.zeros(g.slots, g.out_tokens, dtype=torch.long, device=dev)
        self.rows = torch.arange(g.slots, device=dev)
        self.columns = torch.arange(g.slot_tokens, device=dev)
        self.eos = torch.tensor(list(eos_ids) or [-1], dtype=torch.long, device=dev)
        self.penalty = float(repetition_penalty)
        self.inv_freq = text.rotary_emb.inv_freq.to(dev, torch.float32)
        self.rope_scale = float(getattr(text.rotary_emb, "attention_scaling", 1.0))
        self.scaling = g.head_dim**-0.5
        self.groups = g.q_heads // g.kv_heads
        self.rot = _rotate_half_matrix(g.head_dim, dev)
        self.layers = [_fuse(block) for block in text.layers]
        on_cuda = self.device.type == "cuda"
        self.use_graphs = on_cuda if use_cuda_graphs is None else (use_cuda_graphs and on_cuda)
        self._graphs: dict[tuple[int, int], Any] = {}
        self._pool: Any = None
        # torch.compile fuses the step's ~100 small ops into a few kernels (CPU: ~3x less host time
        # per step, at ~20 s of compiling per bucket); bucket sizes are plain ints, so each bucket
        # specialises once and replays after that.
        self._run: Any = torch.compile(self._step, dynamic=False, fullgraph=True) if compile_step else self._step

    # ------------------------------------------------------------------ rows

    def load_row(self, slot: int, keys: Sequence[torch.Tensor], values: Sequence[torch.Tensor],
                 *, first_token: int, position: int, seen: torch.Tensor) -> None:
        """Put a prefilled request into ``slot``: its prompt K/V, first token and penalty bitmap.

        ``keys``/``values`` are per layer ``[kv_heads, prompt_len, head_dim]`` (batch dim dropped);
        ``position`` is the RoPE position of ``first_token``; ``seen`` a bool ``[vocab]`` row.
        """
        length = int(keys[0].shape[1])
        for layer, (k, v) in enumerate(zip(keys, values, strict=True)):
            self.k[layer][slot, :, :length].copy_(k)
            self.v[layer][slot, :, :length].copy_(v)
        self.tokens[slot] = first_token
        self.positions[slot] = position
        self.wlen[slot] = length
        self.ngen[slot] = 1
        self.out[slot, 0] = first_token
        self.seen[slot].copy_(seen)
        self.seen[slot, first_token] = True
        self.done[slot] = bool((self.eos == first_token).any())

    def free_row(self, slot: int) -> None:
        """A free row keeps decoding garbage (cheaper than reshaping the batch) at a harmless place."""
        self.wlen[slot] = 0
        self.positions[slot] = 0
        self.ngen[slot] = 0
        self.done[slot] = True

    # ------------------------------------------------------------------ the step

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        # As transformers' apply_rotary_pos_emb: in float32, cast back to the model's dtype.
        xf = x.float()
        return (xf * cos + torch.matmul(xf, self.rot) * sin).to(x.dtype)

    def _attend(self, layer: int, q: torch.Tensor, n: int, length: int, mask: torch.Tensor) -> torch.Tensor:
        g = self.geo
        keys = self.k[layer][:n, :, :length]  # [n, kv, T, d]: a view, no copy
        vals = self.v[layer][:n, :, :length]
        qg = q.view(n, g.kv_heads, self.groups, g.head_dim)  # query heads grouped by their KV head
        scores = torch.matmul(qg, keys.transpose(-1, -2)) * self.scaling  # [n, kv, group, T]
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1).to(vals.dtype)
        return torch.matmul(probs, vals)  # [n, kv, group, d]

    def _step(self, n: int, length: int) -> None:
        """One token for rows ``[0, n)``, attending over cache columns ``[0, length)``."""
        g = self.geo
        tokens, wlen, rows = self.tokens[:n], self.wlen[:n], self.rows[:n]
        x = self.text.embed_tokens(tokens)[:, None, :]  # [n, 1, hidden]
        freqs = self.positions[:n].float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        # transformers rounds cos/sin to the model dtype before using them in float32: same here.
        cos = (emb.cos() * self.rope_scale).to(self.dtype).float()[:, None, :]
        sin = (emb.sin() * self.rope_scale).to(self.dtype).float()[:, None, :]
        mask = self.columns[None, :length] <= wlen[:, None]  # own prompt, own answer, the new token
        q_end, k_end = g.q_heads, g.q_heads + g.kv_heads
        for layer, fused in enumerate(self.layers):
            block = fused.block
            attn = block.self_attn
            h = block.input_layernorm(x)
            qkv = torch.nn.functional.linear(h, fused.qkv_weight, fused.qkv_bias).view(n, -1, g.head_dim)
            qk = self._rope(qkv[:, :k_end], cos, sin)  # q and k heads rotated together
            q = attn.query_layernorm(qk[:, :q_end])
            k = attn.key_layernorm(qk[:, q_end:])
            self.k[layer][rows, :, wlen] = k
            self.v[layer][rows, :, wlen] = qkv[:, k_end:]
            o = self._attend(layer, q, n, length, mask).reshape(n, 1, g.q_heads * g.head_dim)
            x = x + attn.o_proj(o)
            gate, up = torch.nn.functional.linear(block.post_attention_layernorm(x), fused.gate_up_weight).chunk(2, -1)
            x = x + block.mlp.down_proj(block.mlp.act_fn(gate) * up)
        logits = self.lm_head(self.text.norm(x))[:, 0].float()
        seen = self.seen[:n]
        penalised = torch.where(logits < 0, logits * self.penalty, logits / self.penalty)
        nxt = torch.argmax(torch.where(seen, penalised, logits), dim=-1)
        self.seen[rows, nxt] = True
        self.out[rows, self.ngen[:n].clamp(max=g.out_tokens - 1)] = nxt
        self.done[:n] |= (nxt[:, None] == self.eos[None, :]).any(dim=-1)
        self.tokens[:n] = nxt
        self.positions[:n] += 1
        self.wlen[:n] = (wlen + 1).clamp(max=g.slot_tokens - 1)
        self.ngen[:n] += 1

    @torch.inference_mode()
    def step(self, n: int, length: int) -> None:
        """Advance rows ``[0, n)`` by one token: a replayed CUDA graph, or the eager step."""
        if not self.use_graphs:
            self._run(n, length)
            return
        graph = self._graphs.get((n, length))
        if graph is None:
            graph = self._capture(n, length)
        graph.replay()

    def _capture(self, n: int, length: int) -> Any:
        # Warm up on a side stream (lazy inits, cuBLAS workspaces), then capture into a shared pool.
        # The step mutates its buffers, so it is captured with a snapshot taken and put back.
        snapshot = [t.clone() for t in (self.tokens, self.positions, self.wlen, self.ngen, self.done)]
        seen, out = self.seen.clone(), self.out.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self._run(n, length)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=self._pool):
            self._run(n, length)
        for buf, saved in zip((self.tokens, self.positions, self.wlen, self.ngen, self.done), snapshot, strict=True):
            buf.copy_(saved)
        self.seen.copy_(seen)
        self.out.copy_(out)
        # The K/V written at each row's column during warm-up and capture are overwritten by the
        # real step, which writes the same columns before reading them.
        self._graphs[(n, length)] = graph
        log.info("decoder step: captured a CUDA graph for %d rows x %d columns", n, length)
        return graph
