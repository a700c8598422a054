"""Estimate the per-GPU memory of one unlearning step before queueing a job.

    python -m unpact_exp.memory llama31_8b_instruct              # a conf/model name
    python -m unpact_exp.memory qwen3_14b --gpus 4 --setting npo_kl
    python -m unpact_exp.memory /path/to/hf_folder               # or its config.json

Why: NPO and KL keep a second, frozen copy of the model, and AdamW two more; whether
an 8B model fits a 40 GB or an 80 GB GPU, and under which strategy, follows from a
handful of numbers. Nothing is downloaded: the shapes come from a local
``config.json`` or, for the hub models of ``conf/model``, from :data:`KNOWN_CONFIGS`.
The parameter count is exact (the model is built on the ``meta`` device, which
allocates nothing); the batch size, context length, dtype, LoRA rank and targets and
the GPU count of FSDP come from the composed config (``method.batch_size``,
``model.max_length``, ``model.dtype``, ``conf/peft/lora.yaml`` with the model's
``conf/peft_model`` file, ``conf/trainer/fsdp.yaml``'s ``devices``), each overridable.

The estimate, in bytes, with ``P`` parameters of ``b`` bytes (``model.dtype``), ``P_l``
LoRA parameters (kept in float32 by peft), ``L`` layers, width ``H``, MLP width ``I``,
key/value width ``KV``, vocabulary ``V`` and ``N`` tokens per step (batch x length x 2
when the method also trains on a retain batch)::

    full fine-tuning, one GPU:  weights P*b + grads P*b + AdamW 2*P*b + reference P*b
    DDP:                        the same + gradient buckets P*b (Lightning's default
                                gradient_as_bucket_view=False keeps a second gradient)
    FSDP over G GPUs:           (weights + grads + AdamW + reference) / G
                                + 2 unsharded decoder layers (the one computing, the prefetch)
    LoRA:                       weights P*b + adapters 16*P_l (weight, grad, 2 AdamW moments,
                                fp32); no reference: the base with adapters off is it
    activations (every row):    N * (L * (6H + 2KV + 4I) * b + V * (b + 8))
    with gradient checkpointing: N * ((L + 6) * H * b + (2KV + 4I) * b + V * (b + 8))

Activations: per token and layer the tensors autograd keeps for a Llama-style
decoder layer with fused (SDPA/flash) attention: the two norm inputs and outputs,
q, the attention output and the o-projection input (6H), the rotated k and v
(2KV), and the MLP's gate, up, activation and product (4I); the attention matrix is
not stored. The logits are kept in ``b`` bytes plus two float32 copies (log-softmax
and its gradient). With checkpointing only each layer's input is kept, plus one
layer's worth during its recomputation. Not counted: the CUDA context and allocator
fragmentation (add 1-3 GB on a GPU), the frozen reference's own logits under KL (no
graph, short-lived), and framework overhead.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact_exp import CONF_DIR
from unpact_exp.errors import ModelLoadError, UnpactConfigError

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
LORA_BYTES = 4  # peft keeps adapters in float32 (autocast_adapter_dtype) under a bf16 base
GIB = 1024**3

# The config.json values that decide the memory of the hub models in conf/model, copied
# from their model cards' config.json (2026-11), so the estimate needs no download.
LLAMA2_7B = dict(
    model_type="llama",
    hidden_size=4096,
    intermediate_size=11008,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    vocab_size=32000,
    tie_word_embeddings=False,
)
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "meta-llama/Llama-3.1-8B-Instruct": dict(
        model_type="llama",
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        tie_word_embeddings=False,
    ),
    "Qwen/Qwen3-14B": dict(
        model_type="qwen3",
        hidden_size=5120,
        intermediate_size=17408,
        num_hidden_layers=40,
        num_attention_heads=40,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151936,
        tie_word_embeddings=False,
    ),
    "meta-llama/Llama-2-7b-hf": LLAMA2_7B,
    "muse-bench/MUSE-News_target": LLAMA2_7B,  # Llama-2-7B fine-tunes
    "muse-bench/MUSE-Books_target": LLAMA2_7B,
}


@dataclass(frozen=True)
class Shape:
    """What the estimate reads from a model config (all counts exact).

    Attributes:
        n_params: every parameter of the model.
        largest_layer: parameters of one decoder layer (the FSDP unit gathered at once).
        lora_params: LoRA parameters for the given rank and target modules.
        hidden: ``H``; intermediate: ``I``; kv_dim: ``KV``; layers: ``L``; vocab: ``V``.
    """

    n_params: int
    largest_layer: int
    lora_params: int
    hidden: int
    intermediate: int
    kv_dim: int
    layers: int
    vocab: int


@dataclass(frozen=True)
class Workload:
    """One training step: tokens, dtype, what the method keeps, how it is spread."""

    batch_size: int
    seq_len: int
    streams: int  # 2 when a retain batch is forwarded with gradients too
    dtype_bytes: int
    needs_reference: bool
    gradient_checkpointing: bool
    gpus: int


@dataclass(frozen=True)
class Row:
    """The estimate for one strategy, in bytes per GPU."""

    strategy: str
    weights: int
    grads: int
    optimizer: int
    reference: int
    activations: int
    other: int

    @property
    def total(self) -> int:
        """Sum of every term."""
        return (
            self.weights
            + self.grads
            + self.optimizer
            + self.reference
            + self.activations
            + self.other
        )


def model_shape(hf_config: Any, lora_r: int, lora_targets: list[str]) -> Shape:
    """Count parameters exactly by building the model on the ``meta`` device."""
    import torch
    from torch import nn
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    layers = model.model.layers
    lora = sum(
        lora_r * (m.in_features + m.out_features)
        for name, m in layers.named_modules()
        if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in lora_targets
    )
    heads = hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // heads
    kv_heads = getattr(hf_config, "num_key_value_heads", None) or heads
    return Shape(
        n_params=sum(p.numel() for p in model.parameters()),
        largest_layer=max(sum(p.numel() for p in layer.parameters()) for layer in layers),
        lora_params=lora,
        hidden=hf_config.hidden_size,
        intermediate=hf_config.intermediate_size,
        kv_dim=kv_heads * head_dim,
        layers=len(layers),
        vocab=hf_config.vocab_size,
    )


def activation_bytes(shape: Shape, work: Workload) -> int:
    """Saved activations of one step (see the module docstring for the formula)."""
    b = work.dtype_bytes
    h, kv, i = shape.hidden, shape.kv_dim, shape.intermediate
    per_layer = 6 * h + 2 * kv + 4 * i
    if work.gradient_checkpointing:
        layers = shape.layers * h + per_layer
    else:
        layers = shape.layers * per_layer
    tokens = work.batch_size * work.seq_len * work.streams
    return tokens * (layers * b + shape.vocab * (b + 8))


def estimate(shape: Shape, work: Workload) -> list[Row]:
    """Per-GPU bytes of a training step under full FT (one GPU, DDP, FSDP) and LoRA."""
    p, b, g = shape.n_params, work.dtype_bytes, work.gpus
    weights = p * b
    reference = weights if work.needs_reference else 0
    act = activation_bytes(shape, work)
    adapters = shape.lora_params * LORA_BYTES
    return [
        Row("full, 1 GPU", weights, weights, 2 * weights, reference, act, 0),
        Row(f"full, DDP x{g}", weights, weights, 2 * weights, reference, act, weights),
        Row(
            f"full, FSDP x{g}",
            weights // g,
            weights // g,
            2 * weights // g,
            reference // g,
            act,
            2 * shape.largest_layer * b,
        ),
        Row("LoRA (1 GPU or DDP)", weights + adapters, adapters, 2 * adapters, 0, act, 0),
    ]


def render(rows: list[Row], title: str) -> str:
    """A fixed-width table in GiB."""
    cols = ("weights", "grads", "optimizer", "reference", "activations", "other", "total")
    lines = [title, f"{'strategy':<22}" + "".join(f"{c:>12}" for c in cols)]
    for row in rows:
        values = [getattr(row, c) for c in cols]
        lines.append(f"{row.strategy:<22}" + "".join(f"{v / GIB:>12.2f}" for v in values))
    return "\n".join(lines)


def compose(model: str, setting: str) -> Any:
    """The train config for ``model`` (a conf/model name, else the default) with LoRA on."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides = [f"setting={setting}", "peft=lora"]
    if (CONF_DIR / "model" / f"{model}.yaml").is_file():
        overrides.append(f"model={model}")
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return hydra_compose("train", overrides=overrides)


def hf_config_of(model: str, cfg: Any) -> tuple[Any, str]:
    """``(transformers config, dtype name)`` for a conf/model name, a folder or a config.json.

    Raises:
        ModelLoadError: neither a local config nor a known hub model.
    """
    from transformers import AutoConfig

    path = Path(model).expanduser()
    if path.name == "config.json" and path.is_file():
        path = path.parent
    if (path / "config.json").is_file():
        raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
        dtype = str(raw.get("torch_dtype") or raw.get("dtype") or "float32")
        return AutoConfig.from_pretrained(str(path)), dtype
    local = cfg.model.get("path")
    if local and (Path(local) / "config.json").is_file():
        return AutoConfig.from_pretrained(str(local)), str(cfg.model.dtype)
    hub_id = cfg.model.get("hub_id")
    if hub_id in KNOWN_CONFIGS:
        values = dict(KNOWN_CONFIGS[hub_id])
        return AutoConfig.for_model(values.pop("model_type"), **values), str(cfg.model.dtype)
    raise ModelLoadError(
        f"no config for {model!r}: pass a conf/model name whose hub_id is one of "
        f"{sorted(KNOWN_CONFIGS)}, or an HF folder / config.json path."
    )


def main(argv: list[str] | None = None) -> int:
    """Print the estimate table for one model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="conf/model name, HF folder, or config.json")
    parser.add_argument("--setting", default="npo_kl", help="a conf/setting name (npo_kl, ...)")
    parser.add_argument("--gpus", type=int, help="FSDP/DDP world size (conf/trainer/fsdp.yaml)")
    parser.add_argument("--batch-size", type=int, help="per-GPU batch (method.batch_size)")
    parser.add_argument("--seq-len", type=int, help="tokens per sequence (model.max_length)")
    parser.add_argument("--dtype", choices=sorted(DTYPE_BYTES), help="weights (model.dtype)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args(argv)
    try:
        print(report(args))
    except (UnpactConfigError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def report(args: argparse.Namespace) -> str:
    """The rendered estimate for parsed CLI arguments (config values where not given)."""
    from omegaconf import OmegaConf

    from unpact_exp.methods import registry
    from unpact_exp.methods.regularizers import get_regularizer

    cfg = compose(args.model, args.setting)
    hf_config, dtype = hf_config_of(args.model, cfg)
    dtype = args.dtype or dtype
    if dtype not in DTYPE_BYTES:
        raise UnpactConfigError(f"dtype {dtype!r} is not one of {sorted(DTYPE_BYTES)}.")
    method = registry.get(cfg.method.name)
    reg = get_regularizer(cfg.regularizer.name)
    fsdp = OmegaConf.load(CONF_DIR / "trainer" / "fsdp.yaml")
    work = Workload(
        batch_size=args.batch_size or int(cfg.method.batch_size),
        seq_len=args.seq_len or int(cfg.model.max_length),
        streams=2 if (method.uses_retain or reg.uses_retain) else 1,
        dtype_bytes=DTYPE_BYTES[dtype],
        needs_reference=bool(method.needs_reference or reg.needs_reference),
        gradient_checkpointing=args.gradient_checkpointing,
        gpus=args.gpus or int(fsdp.devices),
    )
    shape = model_shape(hf_config, int(cfg.peft.r), list(cfg.peft.target_modules))
    title = (
        f"{args.model}: {shape.n_params / 1e9:.2f}B parameters ({dtype}), "
        f"LoRA r={cfg.peft.r}: {shape.lora_params / 1e6:.1f}M; {args.setting}, "
        f"batch {work.batch_size} x {work.seq_len} tokens x {work.streams} stream(s), "
        f"gradient checkpointing {'on' if work.gradient_checkpointing else 'off'} "
        "(GiB per GPU)"
    )
    return render(estimate(shape, work), title)


if __name__ == "__main__":
    sys.exit(main())
