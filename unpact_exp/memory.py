"""Estimate the per-GPU memory of one unlearning step, and of an evaluation, before queueing a job.

    python -m unpact_exp.memory llama31_8b_instruct              # a conf/model name
    python -m unpact_exp.memory qwen3_14b --gpus 4 --setting npo+kl
    python -m unpact_exp.memory /path/to/hf_folder               # or its config.json
    python -m unpact_exp.memory --experiment muse_news_paper --setting npo+kl
    python -m unpact_exp.memory --paper                          # README's table

Why: NPO and KL keep a second, frozen copy of the model, and AdamW two more; whether
an 8B model fits a 40 GB or an 80 GB GPU, and under which strategy, follows from a
handful of numbers. Nothing is downloaded: the shapes come from a local
``config.json`` or, for the hub models of ``conf/model``, from :data:`KNOWN_CONFIGS`.
The parameter count is exact (the model is built on the ``meta`` device, which
allocates nothing); the batch size, sequence length (``model.max_length``; with
``--experiment`` the smaller of it and ``data.max_length``), dtype, LoRA rank and targets,
gradient checkpointing, the evaluation batch sizes and the GPU count of FSDP come from the
composed config (``--experiment`` composes that experiment, e.g. the paper's FSDP x8
recipes; otherwise ``conf/trainer/fsdp.yaml``'s ``devices``), each overridable.

Training, in bytes, with ``P`` parameters of ``b`` bytes (``model.dtype``), ``P_t`` of them
trained (all, except for RMU: its layers' MLP down-projections), ``P_l``
LoRA parameters (kept in float32 by peft), ``L`` layers, width ``H``, MLP width ``I``,
key/value width ``KV``, vocabulary ``V``, ``N`` tokens per stream and step (batch x
length; a second stream when the method also trains on a retain batch)::

    full fine-tuning, one GPU:  weights P*b + grads P_t*b + AdamW 2*P_t*b + reference P*b
    DDP:                        the same + gradient buckets P_t*b (Lightning's default
                                gradient_as_bucket_view=False keeps a second gradient)
    FSDP over G GPUs:           (weights + grads + AdamW + reference) / G
                                + 2 unsharded decoder layers (the one computing, the prefetch)
    LoRA:                       weights P*b + adapters 16*P_l (weight, grad, 2 AdamW moments,
                                fp32); no reference: the base with adapters off is it
    reference:                  the frozen copy of NPO/KL/RMU, or TV's snapshot of the
                                original weights (theta_0, one more P*b)
    activations, per stream:    N * (L * (6H + 2KV + 4I) * b + V * (b + 8))
    with gradient checkpointing: N * ((L + 6) * H * b + (2KV + 4I) * b + V * (b + 8))
    KL's retain stream:         V * (2b + 20) per token instead of V * (b + 8)

Activations: per token and layer the tensors autograd keeps for a Llama-style
decoder layer with fused (SDPA/flash) attention: the two norm inputs and outputs,
q, the attention output and the o-projection input (6H), the rotated k and v
(2KV), and the MLP's gate, up, activation and product (4I); the attention matrix is
not stored. The logits are kept in ``b`` bytes plus two float32 copies (log-softmax
and its gradient). With checkpointing only each layer's input is kept, plus one
layer's worth during its recomputation. KL (``regularizer=kl``) holds the policy's and
the reference's logits (``2b``) and five float32 full-vocabulary tensors per retain
token at its peak (the two log-softmaxes, ``exp`` of the reference's, the difference,
their product, then the logits' gradient in the backward pass): 5.08 x 4 bytes per
token and vocabulary entry above the two logits, measured on CPU (RSS peak of
``kl_loss`` forward and backward, float32 and bfloat16 logits alike).

Evaluation (inside training, every ``callbacks.evaluation.every_n_steps``), per GPU::

    training state              weights + grads + AdamW + reference (+ DDP buckets, + FSDP's
                                2 layers), all kept while evaluating; no activations
    original model M0           P*b, whole on every rank (its answers and KeyTokens)
    M1 copy                     P*b under FSDP/FSDP2 (the policy gathered once on every
                                rank), 0 elsewhere (M1 is the policy itself)
    forward                     the largest of
        scoring                 S * A * V * (b + 8)
        generation              G * T * (2 * L * KV * b + (2H + 3I) * b)
        PrivLeak                B * T_p * (H * b + (2H + 3I) * b) + T_p * V * (b + 8)

UNPACT scoring packs each prompt's variants into shared-prefix rows and sends only the
``A`` answer positions of its ``S`` variants (``eval.scoring_batch_size``,
``eval.max_new_tokens``) to the LM head: their logits (``b``) and two float32 copies
(the float cast and the log-sum-exp). Generation of ``G`` prompts
(``eval.generation_batch_size``) of ``T`` tokens (``--eval-len``: the longest prompt plus
its generated tokens; 512 by default) holds the KV cache (``2 * L * KV * b`` per token)
and, in the prefill, one layer's activations without a graph (layer input and output,
the MLP's gate, up and product: ``(2H + 3I) * b``). PrivLeak (data with ``privleak``
splits) runs ``B = eval.batch_size`` texts of ``T_p`` tokens (``--privleak-len``, 2048 by
default: MUSE's texts) through the decoder without a cache, keeps their last hidden states,
and applies the LM head one text at a time (:mod:`unpact_exp.metrics.privleak`).
``benchmarks/bench_eval_memory.py`` checks the evaluation estimate against measured peaks
on CPU.

The final evaluation adds backward passes through the evaluated model: the relearning attack
(``attacks.final``, on data with free-form forget QA) and the GradNorm membership attack
(``metrics.mia.attacks``). Each holds the model's gradients (``P*b``) and the activations of
one sequence (the formula above, one stream, no checkpointing): relearning forwards its
batch one QA pair at a time (``--eval-len`` tokens at most) and keeps AdamW's state on the
host (:mod:`unpact_exp.attacks.relearn`); GradNorm scores one text at a time (PrivLeak's
``T_p`` tokens on MUSE, ``metrics.mia.max_length`` on TOFU). TOFU's metric scores
``metrics.tofu.batch_size`` QA pairs at once with full-vocabulary logits. They run one after
the other and take the forward's place::

    final evaluation            training state + M0 + M1 copy + max(forward,
                                TOFU scoring N_t * V * (b + 8), P*b + one sequence's
                                activations)

Not counted: the CUDA context and allocator fragmentation (add 1-3 GB on a GPU),
the frozen reference's own activations under KL (no graph, short-lived), and
framework overhead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
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
LLAMA31_8B = dict(
    model_type="llama",
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    vocab_size=128256,
    tie_word_embeddings=False,
)
LLAMA32_1B = dict(
    model_type="llama",
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=64,
    vocab_size=128256,
    tie_word_embeddings=True,
)
LLAMA32_3B = dict(
    model_type="llama",
    hidden_size=3072,
    intermediate_size=8192,
    num_hidden_layers=28,
    num_attention_heads=24,
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=128256,
    tie_word_embeddings=True,
)
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "meta-llama/Llama-3.1-8B-Instruct": LLAMA31_8B,
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
    # TOFU targets: fine-tunes of Llama-3.2-1B/3B and Llama-3.1-8B Instruct (open-unlearning)
    "open-unlearning/tofu_Llama-3.2-1B-Instruct_full": LLAMA32_1B,
    "open-unlearning/tofu_Llama-3.2-3B-Instruct_full": LLAMA32_3B,
    "open-unlearning/tofu_Llama-3.1-8B-Instruct_full": LLAMA31_8B,
}


@dataclass(frozen=True)
class Shape:
    """What the estimate reads from a model config (all counts exact).

    Attributes:
        n_params: every parameter of the model.
        trainable_params: the parameters the method trains (its ``Objective.trainable``:
            RMU only its layers' MLP down-projections, every other method all of them);
            only these have gradients and AdamW moments.
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
    trainable_params: int


@dataclass(frozen=True)
class Workload:
    """One training step: tokens, dtype, what the method keeps, how it is spread.

    ``kl``: the retain stream is KL's (full-vocabulary float32 tensors, see the module
    docstring); ``snapshot``: the method keeps a copy of the original weights (TV).
    """

    batch_size: int
    seq_len: int
    streams: int  # 2 when a retain batch is forwarded with gradients too
    dtype_bytes: int
    needs_reference: bool
    gradient_checkpointing: bool
    gpus: int
    kl: bool = False
    snapshot: bool = False


@dataclass(frozen=True)
class EvalWorkload:
    """The forwards of an evaluation (see the module docstring's formula).

    Attributes:
        scoring_batch: ``S``, ``eval.scoring_batch_size`` (UNPACT prompt variants per forward).
        answer_tokens: ``A``, ``eval.max_new_tokens`` (the scored answer tokens per variant).
        generation_batch: ``G``, ``eval.generation_batch_size`` (prompts generated together).
        length: ``T``, the longest prompt + generated tokens.
        privleak_batch: ``B``, ``eval.batch_size`` (PrivLeak texts per forward).
        privleak_len: ``T_p``, tokens of the longest PrivLeak text (0: the data has none).
        backward: ``(sequences, tokens each)`` of each backward pass of the final evaluation:
            the relearning attack's batch, GradNorm's one text (empty: neither runs).
        final_scoring: tokens the final evaluation scores at once with full-vocabulary
            logits (the ``tofu`` metric: ``metrics.tofu.batch_size`` x length; 0: none).
    """

    scoring_batch: int
    answer_tokens: int
    generation_batch: int
    length: int
    privleak_batch: int
    privleak_len: int
    backward: tuple[tuple[int, int], ...] = ()
    final_scoring: int = 0


@dataclass(frozen=True)
class EvalRow:
    """The evaluation estimate for one strategy, in bytes per GPU."""

    strategy: str
    training_state: int
    original: int
    m1_copy: int
    forward: int
    final_backward: int = 0
    final_forward: int = 0

    @property
    def total(self) -> int:
        """Sum of every term of an evaluation during training."""
        return self.training_state + self.original + self.m1_copy + self.forward

    @property
    def final(self) -> int:
        """The final evaluation: the largest of the forward, the final-only forward (TOFU's
        scoring) and the final backward passes, which run one after the other."""
        largest = max(self.forward, self.final_forward, self.final_backward)
        return self.total - self.forward + largest


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


def model_shape(
    hf_config: Any,
    lora_r: int,
    lora_targets: list[str],
    trainable: Callable[[str], bool] | None = None,
) -> Shape:
    """Count parameters exactly by building the model on the ``meta`` device.

    ``trainable``: which parameter names the method trains (default: all).
    """
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
        trainable_params=sum(
            p.numel()
            for name, p in model.named_parameters()
            if trainable is None or trainable(name)
        ),
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
    tokens = work.batch_size * work.seq_len
    logits = [shape.vocab * (b + 8)] * work.streams
    if work.kl and work.streams > 1:
        logits[-1] = shape.vocab * (2 * b + 20)  # the retain stream is KL's
    return sum(tokens * (layers * b + per_stream) for per_stream in logits)


def estimate(shape: Shape, work: Workload) -> list[Row]:
    """Per-GPU bytes of a training step under full FT (one GPU, DDP, FSDP) and LoRA."""
    p, b, g = shape.n_params, work.dtype_bytes, work.gpus
    weights = p * b
    grads = shape.trainable_params * b  # AdamW's two moments: 2 * grads
    reference = weights * (int(work.needs_reference) + int(work.snapshot))
    act = activation_bytes(shape, work)
    adapters = shape.lora_params * LORA_BYTES
    return [
        Row("full, 1 GPU", weights, grads, 2 * grads, reference, act, 0),
        Row(f"full, DDP x{g}", weights, grads, 2 * grads, reference, act, grads),
        Row(
            f"full, FSDP x{g}",
            weights // g,
            grads // g,
            2 * grads // g,
            reference // g,
            act,
            2 * shape.largest_layer * b,
        ),
        Row("LoRA (1 GPU or DDP)", weights + adapters, adapters, 2 * adapters, 0, act, 0),
    ]


def eval_forward_bytes(shape: Shape, work: Workload, ev: EvalWorkload) -> int:
    """The evaluation's largest forward: scoring, generation or PrivLeak (module docstring)."""
    b, h, i = work.dtype_bytes, shape.hidden, shape.intermediate
    vocab = shape.vocab * (b + 8)
    layer = (2 * h + 3 * i) * b  # one layer's transient activations, per token, no graph
    scoring = ev.scoring_batch * ev.answer_tokens * vocab
    cache = 2 * shape.layers * shape.kv_dim * b
    generation = ev.generation_batch * ev.length * (cache + layer)
    privleak = ev.privleak_batch * ev.privleak_len * (h * b + layer)
    privleak += ev.privleak_len * vocab if ev.privleak_len else 0
    return max(scoring, generation, privleak)


def final_backward_bytes(shape: Shape, work: Workload, ev: EvalWorkload) -> int:
    """The final evaluation's largest backward pass (module docstring): the evaluated model's
    gradients ``P * b`` and one batch's activations, without checkpointing."""
    if not ev.backward:
        return 0
    return shape.n_params * work.dtype_bytes + max(
        activation_bytes(shape, Workload(sequences, tokens, 1, work.dtype_bytes, False, False, 1))
        for sequences, tokens in ev.backward
    )


def estimate_eval(shape: Shape, work: Workload, ev: EvalWorkload) -> list[EvalRow]:
    """Per-GPU bytes while evaluating during training, for each row of :func:`estimate`.

    The training state (every term but the activations) stays allocated; M0 is whole on
    every rank; M1 is gathered into one full copy under FSDP, and is the policy itself
    elsewhere (LoRA: the policy with its adapters).
    """
    p_b = shape.n_params * work.dtype_bytes
    forward = eval_forward_bytes(shape, work, ev)
    backward = final_backward_bytes(shape, work, ev)
    final_forward = ev.final_scoring * shape.vocab * (work.dtype_bytes + 8)
    rows = []
    for row in estimate(shape, work):
        state = row.total - row.activations
        copy = p_b if "FSDP" in row.strategy else 0
        rows.append(EvalRow(row.strategy, state, p_b, copy, forward, backward, final_forward))
    return rows


def render(rows: list[Row], title: str) -> str:
    """A fixed-width table in GiB."""
    cols = ("weights", "grads", "optimizer", "reference", "activations", "other", "total")
    lines = [title, f"{'strategy':<22}" + "".join(f"{c:>12}" for c in cols)]
    for row in rows:
        values = [getattr(row, c) for c in cols]
        lines.append(f"{row.strategy:<22}" + "".join(f"{v / GIB:>12.2f}" for v in values))
    return "\n".join(lines)


def render_eval(rows: list[EvalRow], title: str) -> str:
    """The evaluation estimate as a fixed-width table in GiB."""
    cols = ("training_state", "original", "m1_copy", "forward", "total")
    cols += ("final_forward", "final_backward", "final")
    heads = ("train state", "M0", "M1 copy", "forward", "total", "final fwd", "final bwd", "final")
    lines = [title, f"{'strategy':<22}" + "".join(f"{c:>12}" for c in heads)]
    for row in rows:
        values = [getattr(row, c) for c in cols]
        lines.append(f"{row.strategy:<22}" + "".join(f"{v / GIB:>12.2f}" for v in values))
    return "\n".join(lines)


def compose(model: str, setting: str, experiment: str | None = None) -> Any:
    """The train config for ``model`` (a conf/model name, else the default, or the
    experiment's) with LoRA on (for the LoRA row's rank and targets)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides = [f"setting={setting}", "peft=lora"]
    if experiment:
        overrides.append(f"experiment={experiment}")
    if model and (CONF_DIR / "model" / f"{model}.yaml").is_file():
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


PAPER_EXPERIMENTS: dict[str, tuple[str, ...]] = {
    "muse_news_paper": ("muse_news_target",),
    "muse_books_paper": ("muse_books_target",),
    "tofu_paper": ("tofu_llama32_1b", "tofu_llama32_3b", "tofu_llama31_8b"),
    "wmdp_paper": ("llama31_8b_instruct",),
}
"""The experiments README's memory table covers, with the models each is run on: its own
(MUSE), the three its header sweeps (TOFU), and the 8B model of conf/model for WMDP, whose
model is chosen on the command line."""
GPU_BYTES = 80 * 10**9
"""An 80 GB GPU, the size the paper recipes are shipped for."""
DEFAULT_EVAL_LEN = 512
DEFAULT_PRIVLEAK_LEN = 2048


def main(argv: list[str] | None = None) -> int:
    """Print the estimate tables for one model (or README's paper table)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="conf/model name, HF folder, or config.json")
    parser.add_argument("--experiment", help="a conf/experiment name (its model, batch, GPUs)")
    parser.add_argument(
        "--paper", action="store_true", help="the paper experiments' tables (README, guide)"
    )
    parser.add_argument("--setting", default="npo+kl", help="a conf/setting name (npo+kl, ...)")
    parser.add_argument("--gpus", type=int, help="FSDP/DDP world size (conf/trainer/fsdp.yaml)")
    parser.add_argument("--batch-size", type=int, help="per-GPU batch (method.batch_size)")
    parser.add_argument("--seq-len", type=int, help="tokens per sequence (data/model max_length)")
    parser.add_argument("--dtype", choices=sorted(DTYPE_BYTES), help="weights (model.dtype)")
    parser.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        help="(default: trainer.gradient_checkpointing of the config)",
    )
    parser.add_argument(
        "--eval-len", type=int, default=DEFAULT_EVAL_LEN, help="longest prompt + generation"
    )
    parser.add_argument(
        "--privleak-len", type=int, default=DEFAULT_PRIVLEAK_LEN, help="longest PrivLeak text"
    )
    args = parser.parse_args(argv)
    try:
        if args.paper:
            print(paper_summary(args.eval_len), paper_table(args.eval_len), sep="\n\n")
        elif not args.model and not args.experiment:
            raise UnpactConfigError("name a model (conf/model name, HF folder) or --experiment")
        else:
            print(report(args))
    except (UnpactConfigError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def trainable_of(cfg: Any, hf_config: Any) -> Callable[[str], bool]:
    """The composed method's ``Objective.trainable``: which parameters get gradients.

    The objective is built from its config node as training builds it, with stand-ins for
    the values only a run has (one forget example, no prompts, no oracle, a placeholder
    for QA data's answer swap): constructors store those, and ``trainable`` reads the
    method's own keys (RMU's ``method.trainable_layers``).
    """
    from unpact_exp.methods import registry
    from unpact_exp.methods.base import RUNTIME_ARGS

    runtime = {name: None for name in RUNTIME_ARGS}
    runtime.update(n_forget=1, hidden_size=int(hf_config.hidden_size), seed=0)
    if cfg.data.train_on == "qa":  # the stage gives QA data an answer swap (IdkDPO needs one)
        runtime["forget_alternates"] = lambda *_: None
    return registry.build(cfg.method, runtime).trainable


def shape_of(cfg: Any, hf_config: Any) -> Shape:
    """:func:`model_shape` for a composed config: its LoRA rank and targets, its method's
    trained parameters."""
    targets = list(cfg.peft.target_modules)
    return model_shape(hf_config, int(cfg.peft.r), targets, trainable_of(cfg, hf_config))


def workloads(
    cfg: Any, args: argparse.Namespace | None, dtype: str, gpus: int
) -> tuple[Workload, EvalWorkload]:
    """The training and evaluation workload of a composed config (CLI values win)."""
    from unpact_exp.methods import registry
    from unpact_exp.methods.regularizers import get_regularizer

    method = registry.get(cfg.method.name)
    reg = get_regularizer(cfg.regularizer.name)
    seq = int(cfg.model.max_length)  # a model alone: its context
    if getattr(args, "experiment", None):  # an experiment: its training sequences
        seq = min(int(cfg.data.max_length), seq)
    checkpointing = getattr(args, "gradient_checkpointing", None)
    work = Workload(
        batch_size=getattr(args, "batch_size", None) or int(cfg.method.batch_size),
        seq_len=getattr(args, "seq_len", None) or seq,
        streams=2 if (method.uses_retain or reg.uses_retain) else 1,
        dtype_bytes=DTYPE_BYTES[dtype],
        needs_reference=bool(method.needs_reference or reg.needs_reference),
        gradient_checkpointing=bool(
            cfg.trainer.gradient_checkpointing if checkpointing is None else checkpointing
        ),
        gpus=gpus,
        kl=reg.full_vocabulary,
        snapshot=method.keeps_original_weights,
    )
    has_privleak = bool(cfg.data.get("privleak_forget"))
    length = getattr(args, "eval_len", None) or DEFAULT_EVAL_LEN
    privleak_len = (getattr(args, "privleak_len", None) or DEFAULT_PRIVLEAK_LEN) * has_privleak
    ev = EvalWorkload(
        scoring_batch=int(cfg.eval.scoring_batch_size),
        answer_tokens=int(cfg.eval.max_new_tokens),
        generation_batch=int(cfg.eval.generation_batch_size),
        length=length,
        privleak_batch=int(cfg.eval.batch_size),
        privleak_len=privleak_len,
        backward=final_backwards(cfg, length, privleak_len),
        final_scoring=tofu_scoring(cfg, length),
    )
    return work, ev


def scheduled(cfg: Any, metric: str) -> bool:
    """Whether ``metric`` runs at some evaluation (``metrics.every_step`` or ``metrics.final``)."""
    return metric in [*cfg.metrics.every_step, *cfg.metrics.final]


def tofu_scoring(cfg: Any, length: int) -> int:
    """Tokens the ``tofu`` metric scores at once (its batch of QA pairs, at most ``length``
    tokens each) when it runs: at the final evaluation, on data with TOFU's perturbed sets."""
    if not scheduled(cfg, "tofu") or not cfg.data.get("forget_perturbed"):
        return 0
    tofu = cfg.metrics.tofu
    return int(tofu.batch_size) * min(int(tofu.max_length), length)


def final_backwards(cfg: Any, length: int, privleak_len: int) -> tuple[tuple[int, int], ...]:
    """``(sequences, tokens)`` of the final evaluation's backward passes: the relearning
    attack's forget QA pairs, forwarded one at a time (at most ``length`` tokens, the longest
    prompt and answer), and GradNorm's one member text (MUSE's PrivLeak texts, else TOFU's QA
    pairs)."""
    passes = []
    if "relearn" in cfg.attacks.final and cfg.data.get("forget_qa"):  # it attacks QA items
        passes.append((1, min(int(cfg.attacks.relearn.max_length), length)))
    if scheduled(cfg, "mia") and "gradnorm" in cfg.metrics.mia.attacks:
        if privleak_len:
            passes.append((1, privleak_len))
        elif cfg.data.get("holdout_qa"):
            passes.append((1, min(int(cfg.metrics.mia.max_length), length)))
    return tuple(passes)


def report(args: argparse.Namespace) -> str:
    """The rendered estimates for parsed CLI arguments (config values where not given)."""
    from omegaconf import OmegaConf

    cfg = compose(args.model, args.setting, args.experiment)
    model = args.model or str(cfg.model.name)
    hf_config, dtype = hf_config_of(model, cfg)
    dtype = args.dtype or dtype
    if dtype not in DTYPE_BYTES:
        raise UnpactConfigError(f"dtype {dtype!r} is not one of {sorted(DTYPE_BYTES)}.")
    fsdp = OmegaConf.load(CONF_DIR / "trainer" / "fsdp.yaml")
    default_gpus = int(cfg.trainer.devices) if args.experiment else int(fsdp.devices)
    work, ev = workloads(cfg, args, dtype, args.gpus or default_gpus)
    shape = shape_of(cfg, hf_config)
    title = (
        f"{model}: {shape.n_params / 1e9:.2f}B parameters ({dtype}), "
        f"LoRA r={cfg.peft.r}: {shape.lora_params / 1e6:.1f}M; {args.setting}, "
        f"batch {work.batch_size} x {work.seq_len} tokens x {work.streams} stream(s), "
        f"gradient checkpointing {'on' if work.gradient_checkpointing else 'off'} "
        "(GiB per GPU)"
    )
    eval_title = (
        f"evaluation during training: scoring {ev.scoring_batch} x {ev.answer_tokens} answer "
        f"tokens, generation {ev.generation_batch} x {ev.length} tokens, PrivLeak "
        f"{ev.privleak_batch} x {ev.privleak_len} tokens (GiB per GPU)"
    )
    return "\n\n".join(
        [
            render(estimate(shape, work), title),
            render_eval(estimate_eval(shape, work, ev), eval_title),
        ]
    )


def sweep_settings(experiment: str) -> list[str]:
    """The settings an experiment runs: its sweep's, else the one its defaults choose."""
    from omegaconf import OmegaConf

    node = OmegaConf.load(CONF_DIR / "experiment" / f"{experiment}.yaml")
    swept = OmegaConf.select(node, "hydra.sweeper.params.setting")
    if swept:
        return str(swept).split(",")
    for entry in node.get("defaults", []):
        if isinstance(entry, Mapping) and "override /setting" in entry:
            return [str(entry["override /setting"])]
    raise UnpactConfigError(f"experiment {experiment!r} names no setting to estimate")


def shipped_strategy(cfg: Any) -> str:
    """The estimate row a composed trainer config runs as (the start of its strategy name)."""
    strategy, devices = str(cfg.trainer.strategy), int(cfg.trainer.devices)
    if strategy in ("fsdp", "fsdp2"):
        return "full, FSDP"
    if strategy == "ddp" or (strategy == "auto" and devices > 1):
        return "full, DDP"
    return "full, 1 GPU"


def paper_rows(eval_len: int) -> list[dict[str, Any]]:
    """Per experiment of :data:`PAPER_EXPERIMENTS`, model and setting, as shipped: the
    training, evaluation and final-evaluation totals (bytes per GPU) of the strategy the
    experiment runs."""
    rows = []
    for experiment, models in PAPER_EXPERIMENTS.items():
        for model in models:
            for setting in sweep_settings(experiment):
                cfg = compose(model, setting, experiment)
                hf_config, _ = hf_config_of(model, cfg)
                args = argparse.Namespace(
                    eval_len=eval_len, privleak_len=DEFAULT_PRIVLEAK_LEN, experiment=experiment
                )
                work, ev = workloads(cfg, args, str(cfg.model.dtype), int(cfg.trainer.devices))
                shape = shape_of(cfg, hf_config)
                strategy = shipped_strategy(cfg)
                train = next(r for r in estimate(shape, work) if r.strategy.startswith(strategy))
                evaluation = next(
                    r for r in estimate_eval(shape, work, ev) if r.strategy.startswith(strategy)
                )
                rows.append(
                    dict(
                        experiment=experiment,
                        model=model,
                        setting=setting,
                        strategy=train.strategy,
                        checkpointing=work.gradient_checkpointing,
                        batch=f"{work.batch_size} x {work.seq_len} x {work.streams}",
                        train=train.total,
                        evaluation=evaluation.total,
                        final=evaluation.final,
                    )
                )
    return rows


def paper_summary(eval_len: int) -> str:
    """README's markdown table: per experiment and model, the largest of :func:`paper_rows`
    over its settings (the setting named), in GiB (80 GB = 74.5 GiB)."""
    lines = [
        "| experiment | model | strategy | checkpointing | batch x tokens | training GiB/GPU "
        "| evaluation GiB/GPU | final evaluation GiB/GPU |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in paper_rows(eval_len):
        groups.setdefault((row["experiment"], row["model"]), []).append(row)
    for (experiment, model), rows in groups.items():
        first = rows[0]
        batch = first["batch"].rsplit(" x ", 1)[0]

        def largest(key: str, rows: list[dict[str, Any]] = rows) -> str:
            top = max(rows, key=lambda r: r[key])
            return f"{top[key] / GIB:.1f} ({top['setting']})"

        lines.append(
            f"| {experiment} | {model} | {first['strategy']} | "
            f"{'on' if first['checkpointing'] else 'off'} | {batch} | {largest('train')} | "
            f"{largest('evaluation')} | {largest('final')} |"
        )
    return "\n".join(lines)


def paper_table(eval_len: int) -> str:
    """docs/guide.md's markdown table of :func:`paper_rows` in GiB (80 GB = 74.5 GiB)."""
    lines = [
        "| experiment | model | setting | strategy | checkpointing | batch x tokens x streams "
        "| training GiB/GPU | evaluation GiB/GPU | final evaluation GiB/GPU |",
        "|---|---|---|---|---|---|---:|---:|---:|",
    ]
    for row in paper_rows(eval_len):
        lines.append(
            f"| {row['experiment']} | {row['model']} | {row['setting']} | {row['strategy']} | "
            f"{'on' if row['checkpointing'] else 'off'} | {row['batch']} | "
            f"{row['train'] / GIB:.1f} | {row['evaluation'] / GIB:.1f} | "
            f"{row['final'] / GIB:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
