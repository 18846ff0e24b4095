"""The peer of the training-step rows: Garg et al.'s model on Hugging Face ``transformers``.

This module owns :class:`GPT2Peer` (``GPT2Model`` behind a linear read-in of the interleaved
tokens, :func:`icl.model.garg_tokens`, and a linear read-out, as Garg et al. wrapped it), its
name in the tables (:data:`PEER_NAME`) and whether it can be built here
(:func:`peer_unavailable`: ``transformers`` is the optional ``bench`` extra).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..model import ModelConfig, garg_tokens

__all__ = ["PEER_NAME", "GPT2Peer", "peer_unavailable"]

PEER_NAME = "transformers GPT2Model"


def peer_unavailable() -> str | None:
    """None if ``transformers`` imports, else why not."""
    try:
        import transformers  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


class GPT2Peer(nn.Module):
    """The peer: Garg et al.'s in-context model on Hugging Face's ``GPT2Model``.

    Linear read-in of the interleaved d-wide tokens, ``GPT2Model(inputs_embeds=...)``
    (learned positions, pre-LayerNorm blocks with tanh-GELU MLPs, final LayerNorm, no
    dropout, SDPA attention), linear read-out, predictions at the x tokens. Width,
    depth, heads and prompt length come from ``cfg``; the unused token table has one
    row (it gets no gradient either way).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        from transformers import GPT2Config, GPT2Model

        conf = GPT2Config(
            n_positions=2 * cfg.n_points,
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            vocab_size=1,
            bos_token_id=0,
            eos_token_id=0,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            use_cache=False,
        )
        conf._attn_implementation = "sdpa"
        self.read_in = nn.Linear(cfg.n_dims, cfg.n_embd)
        self.backbone = GPT2Model(conf)
        self.read_out = nn.Linear(cfg.n_embd, 1)

    def forward(self, xs: Tensor, ys: Tensor) -> Tensor:
        h = self.backbone(inputs_embeds=self.read_in(garg_tokens(xs, ys))).last_hidden_state
        return self.read_out(h)[:, ::2, 0]
