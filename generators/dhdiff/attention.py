"""DDA and SSM as diffusers attention processors (our design; the paper's internals are not public).

The UNet runs both strands as one batch ``[image strand (b), mask strand (b)]``; item ``i`` of
the image half and item ``i`` of the mask half are the same sample. A `HelixAttnProcessor`
replaces the self-attention (``attn1``) processor of every transformer block and knows that
split. Per block the helix cycles through:

* **separation** (DDA on): each strand attends only to its own tokens —
  ``S_s = softmax(Q_s K_s^T / sqrt(d) + B) V_s`` for s ∈ {image, mask}; identical to stock
  attention, because stock attention never mixes batch items.
* **connection** (DDA on): each strand's queries attend to the *other* strand's keys/values —
  ``C_s = softmax(Q_s K_o^T / sqrt(d) + B) V_o``.
* **merging** (DDA on): ``O_s = S_s + g ⊙ C_s`` with a learned per-channel gate ``g``
  (initialised to ``gate_init``; 0 gives an untrained model fully decoupled strands).

With DDA off (ablation ``dhdiff-no-dda``) the strands are *entangled*: one joint attention over
the tokens of both strands, ``O_s = softmax(Q_s [K_s; K_o]^T / sqrt(d) + [B, B]) [V_s; V_o]``.

**SSM** (score-map modification) adds a bias to the attention logits built from the current
mask estimate ``m ∈ [0,1]`` (one value per token, the estimate area-pooled to the block's token
grid): ``B[h, i, j] = λ_h · m_i · (1 − m_j)``, with a learned strength ``λ_h`` per head
(initialised to ``ssm_init``). Foreground query tokens are pushed to attend to background key
tokens, so the anomaly is drawn in the context of the surrounding normal structure. The same
bias is used in every score map of the block (separation, connection, or joint). With SSM off,
or with no/empty mask estimate, ``B = 0`` and the separation path is stock attention,
numerically. The estimate comes from `HelixState.mask_estimate`: the ground-truth mask while
training, the mask strand's current x0 estimate while sampling (none at the first step).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class HelixState:
    """Per-forward information the processors share: the current mask estimate (b,1,H,W) in [0,1]
    for the b samples of one strand, or None."""

    mask_estimate: torch.Tensor | None = None


def token_grid(mask: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Area-pool a (b,1,H,W) map to the token grid of a block with `n_tokens` tokens → (b, n_tokens)."""
    h, w = mask.shape[-2:]
    f = math.sqrt(h * w / n_tokens)
    gh, gw = round(h / f), round(w / f)
    if gh * gw != n_tokens:
        raise ValueError(f"cannot map a {h}x{w} mask estimate to {n_tokens} attention tokens")
    return F.adaptive_avg_pool2d(mask, (gh, gw)).flatten(1)


class HelixAttnProcessor(nn.Module):
    """Self-attention processor for the two-strand batch: DDA (separation/connection/merging) and SSM."""

    def __init__(self, state: HelixState, *, inner_dim: int, heads: int, dda: bool = True, ssm: bool = True,
                 ssm_init: float = 1.0, gate_init: float = 0.0):
        super().__init__()
        object.__setattr__(self, "state", state)  # shared plain object, not a submodule
        self.dda = dda
        self.ssm = ssm
        self.gate = nn.Parameter(torch.full((inner_dim,), float(gate_init))) if dda else None
        self.ssm_scale = nn.Parameter(torch.full((heads,), float(ssm_init))) if ssm else None

    def ssm_coordinates(self, n_tokens: int, batch: int, dtype: torch.dtype, device) -> torch.Tensor | None:
        """Per-token mask estimate m (batch, n_tokens) on the block's grid, or None (SSM inactive)."""
        est = self.state.mask_estimate
        if not self.ssm or est is None:
            return None
        m = token_grid(est.to(device=device, dtype=dtype), n_tokens)
        if m.shape[0] != batch:
            raise ValueError(f"mask estimate has {m.shape[0]} items but the strand batch has {batch}")
        return m

    def _extend(self, query, key, key_o, value, value_o, m: torch.Tensor | None, head_dim: int):
        """Fold the SSM bias into one extra query/key dimension so the fused SDPA kernel applies.

        ``λ m_i (1 − m_j) = λ m_i − λ m_i m_j``; the first term is constant along the keys of a
        row and cancels in the softmax, so the bias is ``−λ m_i m_j``: appending ``−λ_h √d m_i``
        to each query and ``m_j`` to each key adds exactly that to the logits (scale 1/√d).
        Both strands share the token positions of an item, so the other strand's keys get the
        same ``m_j``. The values get a zero column (sliced off after attention): the fused kernels
        (flash on CPU, and the GPU ones) need one head size for queries, keys and values, and
        without it SDPA falls back to the unfused math path (measured: 1.5× a stock UNet step).
        """
        if m is None:
            return query, key, key_o, value, value_o
        m2 = torch.cat([m, m])[:, None, :, None]  # (2b, 1, n, 1)
        heads = query.shape[1]
        qa = -self.ssm_scale.to(query.dtype).view(1, heads, 1, 1) * math.sqrt(head_dim) * m2
        ka = m2.expand(-1, heads, -1, -1)
        pad = lambda v: F.pad(v, (0, 1))  # noqa: E731
        return (torch.cat([query, qa], -1), torch.cat([key, ka], -1), torch.cat([key_o, ka], -1),
                pad(value), pad(value_o))

    # Copied from diffusers.models.attention_processor.AttnProcessor2_0.__call__ (diffusers 0.42.1, the version
    # installed in this project's venv; Apache-2.0), a deliberate copy: diffusers has no hook between the
    # projections and the attention. Kept as there: spatial_norm, 4-D → token layout, group_norm, to_q/to_k/to_v,
    # the head reshape, norm_q/norm_k, to_out[0]/to_out[1], the residual and rescale_output_factor. Changed:
    # - self-attention only: encoder_hidden_states and attention_mask are refused (so no norm_cross and no
    #   prepare_attention_mask), and the deprecated `scale` argument is ignored without a warning;
    # - the batch is two strands: with DDA two SDPA calls (own keys/values, the other strand's, aligned item
    #   by item) merged by the learned gate; without DDA one SDPA over both strands' keys/values;
    # - the SSM bias is folded into one extra query/key dimension (`_extend`), the values padded with a zero
    #   column that is sliced off after SDPA, and SDPA is given its scale 1/sqrt(head_dim) explicitly (its
    #   default would use the padded head size).
    def forward(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args, **kwargs):
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("HelixAttnProcessor is for self-attention (attn1) without attention masks")
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, n_tokens, _ = hidden_states.shape
        if batch_size % 2:
            raise ValueError(f"the helix batch must hold two strands (even size), got {batch_size}")
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        inner_dim = key.shape[-1]
        head_dim = inner_dim // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        half = batch_size // 2
        # the other strand's keys/values, aligned item by item
        key_o = torch.cat([key[half:], key[:half]])
        value_o = torch.cat([value[half:], value[:half]])
        m = self.ssm_coordinates(n_tokens, half, query.dtype, query.device)
        query, key, key_o, value, value_o = self._extend(query, key, key_o, value, value_o, m, head_dim)
        scale = 1 / math.sqrt(head_dim)
        if self.dda:
            sep = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False, scale=scale)
            conn = F.scaled_dot_product_attention(query, key_o, value_o, dropout_p=0.0, is_causal=False, scale=scale)
            sep = sep[..., :head_dim].transpose(1, 2).reshape(batch_size, -1, inner_dim)
            conn = conn[..., :head_dim].transpose(1, 2).reshape(batch_size, -1, inner_dim)
            hidden_states = sep + self.gate.to(sep.dtype) * conn
        else:
            hidden_states = F.scaled_dot_product_attention(
                query, torch.cat([key, key_o], dim=2), torch.cat([value, value_o], dim=2),
                dropout_p=0.0, is_causal=False, scale=scale,
            )
            hidden_states = hidden_states[..., :head_dim].transpose(1, 2).reshape(batch_size, -1, inner_dim)
        hidden_states = hidden_states.to(query.dtype)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def install_helix_processors(unet, state: HelixState, *, dda: bool, ssm: bool, ssm_init: float = 1.0,
                             gate_init: float = 0.0) -> int:
    """Swap every self-attention processor of `unet` for a `HelixAttnProcessor`; cross-attention
    (text) keeps diffusers' `AttnProcessor2_0`. Returns the number of helix processors."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    modules = dict(unet.named_modules())
    procs = {}
    n = 0
    for name in unet.attn_processors:
        module = modules[name[: -len(".processor")]]
        if name.endswith("attn1.processor"):
            procs[name] = HelixAttnProcessor(state, inner_dim=module.inner_dim, heads=module.heads, dda=dda, ssm=ssm,
                                             ssm_init=ssm_init, gate_init=gate_init)
            n += 1
        else:
            procs[name] = AttnProcessor2_0()
    unet.set_attn_processor(procs)
    return n
