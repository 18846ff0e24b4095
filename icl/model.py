"""The in-context learner: a small GPT-2-style decoder that reads a prompt of examples.

This module owns the network. ``model(xs, ys)`` takes inputs ``xs`` (B, n, d) and
targets ``ys`` (B, n) and returns, in one causal pass, the prediction of every
``y_i`` from ``(x_1, y_1, ..., x_{i-1}, y_{i-1}, x_i)``: shape (B, n).

Two prompt layouts:

* ``"garg"`` (Garg et al. 2022, used at ``paper`` scale): 2n tokens
  ``x_1, [y_1,0..0], x_2, [y_2,0..0], ...`` through one shared linear read-in; the
  prediction for ``y_i`` is read out at the token of ``x_i``.
* ``"compact"``: n tokens, token i is ``[x_i, y_{i-1}]`` (``y_0 = 0``). Half the
  sequence, but an example's ``x_j`` and ``y_j`` sit in different tokens, so the
  network must first learn to copy them together (a long plateau in training).
* ``"pair"`` (the ``cpu`` default): n tokens, token i is ``[x_{i-1}, y_{i-1}, x_i]``
  (token 0 is ``[0, 0, x_0]``): every token holds one complete example *and* the next
  query, so attention over tokens ``<= i`` sees the pairs ``(x_j, y_j), j < i`` directly
  and the query ``x_i`` in the current token. Same information and causality as the
  Garg layout in half the tokens; the prediction for ``y_i`` is read at token i.

Blocks are pre-LayerNorm (GPT-2): ``x + attn(ln(x))``, ``x + mlp(ln(x))`` with a 4x
GELU MLP, causal attention, learned absolute positions, and a final LayerNorm. No
dropout, no token table (Garg's GPT-2 carries an unused one).

Task-family instructions (chapter 6's conditional run): with ``n_classes = n > 0`` the model
has a learned class embedding ``nn.Embedding(n, n_embd)`` and ``model(xs, ys, labels)`` adds
the embedding of each prompt's class (``labels`` (B,), the index of the class in the run's
``task.classes``) to every token: an instruction naming the prompt's function class, constant
over the prompt (so causality is unchanged). ``labels=None`` adds nothing (the "no
instruction" input: allowed by the design, never seen in training). The embedding is built
and initialised after every other parameter, so with ``n_classes = 0`` (the default, every
other run) the model, its initialisation and its forward are exactly those of before the
option existed (tested), and a conditional model's shared parameters start where the
unconditional one's do. :class:`Instructed` wraps a conditional model as a predictor
``(xs, ys) -> preds`` that supplies one constant instruction.

Two implementation switches, measured by ``python -m icl bench`` (see its findings):
``attention="sdpa"`` (PyTorch's fused ``scaled_dot_product_attention``) or ``"math"``
(the same causal softmax attention written as two batched matmuls; the same function
to float rounding, which can be cheaper on CPU for very short sequences), and
``activation="gelu_tanh"`` (GPT-2's tanh approximation) or ``"gelu"`` (the exact erf
GELU: a slightly different function, so a run keeps the one it was trained with; its
config records it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ModelConfig", "TransformerModel", "Instructed", "garg_tokens", "matmul_params", "step_flops"]

LAYOUTS = ("garg", "compact", "pair")
ATTENTIONS = ("sdpa", "math")
ACTIVATIONS = ("gelu_tanh", "gelu")


CLASS_EMBEDDING = "class_emb"  # the conditional model's class embedding (its state-dict prefix)


@dataclass(frozen=True)
class ModelConfig:
    n_dims: int = 10  # input dimension d
    n_points: int = 21  # longest prompt (number of examples) the positions cover
    n_embd: int = 128  # width
    n_layer: int = 4
    n_head: int = 4
    layout: str = "pair"  # "garg" | "compact" | "pair"
    attention: str = "sdpa"  # "sdpa" | "math": same function, different kernels
    activation: str = "gelu_tanh"  # "gelu_tanh" (GPT-2) | "gelu" (exact erf)
    n_classes: int = (
        0  # > 0: a learned class embedding (task-family instructions); 0: none (every run but one)
    )

    def __post_init__(self) -> None:
        for name, allowed in (("layout", LAYOUTS), ("attention", ATTENTIONS), ("activation", ACTIVATIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; choose one of {allowed}")
        for name in ("n_dims", "n_points", "n_embd", "n_layer", "n_head"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        if not isinstance(self.n_classes, int) or isinstance(self.n_classes, bool) or self.n_classes < 0:
            raise ValueError(
                f"n_classes={self.n_classes!r} must be an integer >= 0 (0: no task-family instructions)"
            )
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")

    @property
    def n_tokens(self) -> int:
        return 2 * self.n_points if self.layout == "garg" else self.n_points


def garg_tokens(xs: Tensor, ys: Tensor) -> Tensor:
    """Garg et al.'s interleaved prompt ``x_1, [y_1, 0, ..., 0], x_2, ...``: (B, 2n, d) from
    ``xs`` (B, n, d) and ``ys`` (B, n). The ``"garg"`` layout, and the read-in of the bench's
    Hugging Face peer."""
    B, n, d = xs.shape
    ys_wide = torch.cat([ys[..., None], xs.new_zeros(B, n, d - 1)], dim=2)  # (B, n, d): [y, 0, ..., 0]
    return torch.stack([xs, ys_wide], dim=2).reshape(B, 2 * n, d)  # x_1, y_1, x_2, y_2, ...


def matmul_params(model: nn.Module) -> int:
    """Weights that enter matrix products: ``nn.Linear`` and (in Hugging Face's GPT-2) ``Conv1D``."""
    return sum(
        m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"
    )


def step_flops(model: nn.Module, cfg: ModelConfig, batch: int, tokens: int) -> float:
    """Matmul FLOPs of one training step of ``batch`` prompts of ``tokens`` tokens: 6 N T for the
    weights (forward 2, backward 4) plus 12 L B T^2 C for attention scores and their values
    (causal mask not discounted)."""
    return 6.0 * matmul_params(model) * batch * tokens + 12.0 * cfg.n_layer * batch * tokens**2 * cfg.n_embd


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.math = cfg.attention == "math"
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self._future: Tensor | None = None  # the math kernel's causal mask (not a buffer: not in the state)

    def future(self, T: int, device: torch.device) -> Tensor:
        """The causal mask (T, T), True where j > i: built once per device and longest length seen, then
        sliced (a view: every prompt length of a curriculum reads the same triangle)."""
        if torch.compiler.is_compiling():  # traced into the compiled graph instead of cached on the module
            return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
        m = self._future
        if m is None or m.shape[0] < T or m.device != device:
            with torch.inference_mode(False):  # a plain tensor even if first built under inference mode
                m = self._future = torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
        return m[:T, :T]

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
        )  # (B, H, T, hs)
        if self.math:  # scaled and masked in place: the same numbers as out of place, two copies fewer
            att = (q @ k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5)  # (B, H, T, T)
            att = att.masked_fill_(self.future(T, x.device), float("-inf"))  # j > i: -inf
            y = torch.softmax(att, dim=-1) @ v  # (B, H, T, hs)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hs)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd),
            nn.GELU(approximate="tanh" if cfg.activation == "gelu_tanh" else "none"),
            nn.Linear(4 * cfg.n_embd, cfg.n_embd),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TransformerModel(nn.Module):
    """``model(xs, ys) -> preds``: every prefix's prediction in one causal pass."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d_in = {"garg": cfg.n_dims, "compact": cfg.n_dims + 1, "pair": 2 * cfg.n_dims + 1}[cfg.layout]
        self.read_in = nn.Linear(d_in, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_tokens, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.read_out = nn.Linear(cfg.n_embd, 1)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))
        if cfg.n_classes:  # built and initialised last: every other parameter draws what it drew before
            self.class_emb = nn.Embedding(cfg.n_classes, cfg.n_embd)  # named CLASS_EMBEDDING
            nn.init.normal_(self.class_emb.weight, mean=0.0, std=0.02)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def tokens(self, xs: Tensor, ys: Tensor) -> Tensor:
        """Lay the prompt out as the token sequence (B, T, d_in)."""
        if self.cfg.layout == "garg":
            return garg_tokens(xs, ys)  # (B, 2n, d)
        B, n, d = xs.shape
        # one buffer filled in place: the same numbers as concatenating shifted copies, fewer copies
        dtype = torch.promote_types(xs.dtype, ys.dtype)
        if self.cfg.layout == "compact":
            tok = xs.new_empty(B, n, d + 1, dtype=dtype)  # (B, n, d + 1): [x_i, y_{i-1}]
            tok[:, :, :d] = xs
        else:
            tok = xs.new_empty(B, n, 2 * d + 1, dtype=dtype)  # (B, n, 2d + 1): [x_{i-1}, y_{i-1}, x_i]
            tok[:, 0, :d] = 0  # x_{-1} = 0
            tok[:, 1:, :d] = xs[:, :-1]
            tok[:, :, d + 1 :] = xs
        tok[:, 0, d] = 0  # y_{-1} = 0
        tok[:, 1:, d] = ys[:, :-1]
        return tok

    def check_labels(self, labels: Tensor, batch: int) -> None:
        """``labels`` must be (batch,) integer class indices in 0..n_classes-1 of a conditional model."""
        n = self.cfg.n_classes
        if not n:
            raise ValueError(
                "labels given to a model without task-family instructions (n_classes=0): "
                "only a conditional run's model takes them"
            )
        if labels.dtype not in (torch.int64, torch.int32) or labels.shape != (batch,):
            raise ValueError(
                f"labels must be integer class indices of shape ({batch},), got {labels.dtype} "
                f"of shape {tuple(labels.shape)}"
            )
        bad = labels[(labels < 0) | (labels >= n)]
        if bad.numel():
            raise ValueError(
                f"label {int(bad[0])} is out of range: this model knows n_classes={n} classes "
                f"(labels 0..{n - 1})"
            )

    def forward(
        self, xs: Tensor, ys: Tensor, labels: Tensor | None = None, given: Tensor | None = None
    ) -> Tensor:
        """Predictions (B, n) at every x_i. ``labels`` (B,): each prompt's class instruction (a
        conditional model only); ``given`` (B,) bool, optional: only those prompts get theirs (a label
        curriculum's withdrawal, :class:`icl.curriculum.LabelCurriculum`); the others none."""
        B, n, d = xs.shape
        if d != self.cfg.n_dims:
            raise ValueError(f"xs has d={d}, the model was built for n_dims={self.cfg.n_dims}")
        if n > self.cfg.n_points:
            raise ValueError(f"prompt of {n} points is longer than the model's n_points={self.cfg.n_points}")
        tok = self.tokens(xs, ys)  # (B, T, d_in)
        T = tok.shape[1]
        h = self.read_in(tok) + self.wpe.weight[:T]  # (B, T, C)
        if labels is not None:  # the instruction: the class's embedding on every token
            self.check_labels(labels, B)
            inst = self.class_emb(labels)  # (B, C)
            if given is not None:
                inst = inst * given.to(inst.dtype)[:, None]
            h = h + inst[:, None, :]
        for block in self.blocks:
            h = block(h)
        out = self.read_out(self.ln_f(h))[..., 0]  # (B, T)
        return out[:, ::2] if self.cfg.layout == "garg" else out  # (B, n): prediction at x_i


class Instructed(nn.Module):
    """A conditional model as a predictor ``(xs, ys) -> preds`` given one constant instruction:
    ``label`` (a class index of the run's ``task.classes``) for every prompt, or None for no
    instruction (the bare model: no class embedding added). Refuses a model without
    instructions (``n_classes = 0``) and a label it does not know, each in one line."""

    def __init__(self, model: TransformerModel, label: int | None):
        super().__init__()
        n = model.cfg.n_classes
        if not n:
            raise ValueError(
                "Instructed needs a conditional model (n_classes > 0, a run trained with task-family "
                "instructions); this model has n_classes=0 and takes no instruction"
            )
        if label is not None and (
            not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < n
        ):
            raise ValueError(
                f"label {label!r} is out of range: this model knows n_classes={n} classes "
                f"(labels 0..{n - 1}, or None for no instruction)"
            )
        self.model, self.label = model, label

    def forward(self, xs: Tensor, ys: Tensor) -> Tensor:
        if self.label is None:
            return self.model(xs, ys)
        return self.model(xs, ys, torch.full((xs.shape[0],), self.label, dtype=torch.long, device=xs.device))
