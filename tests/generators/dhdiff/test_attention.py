"""DDA/SSM attention processors: shapes, decoupling, connection, and SSM-off ≡ stock attention."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0

from generators.diffusion.backbone import BackboneSpec, TokenPromptEncoder
from generators.dhdiff.attention import HelixAttnProcessor, HelixState, token_grid
from generators.dhdiff.model import HelixDiffusion

B, N, C, HEADS = 3, 16, 32, 4  # 16 tokens = a 4x4 grid


def _attn() -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=C, heads=HEADS, dim_head=C // HEADS).eval()


def _hidden(seed: int = 1) -> torch.Tensor:
    return torch.randn(2 * B, N, C, generator=torch.Generator().manual_seed(seed))


def _mask(seed: int = 2) -> torch.Tensor:
    return (torch.rand(B, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) > 0.6).float()


@torch.no_grad()
def _run(proc, attn, h):
    return proc(attn, h)


@pytest.mark.parametrize("dda", [True, False])
@pytest.mark.parametrize("ssm", [True, False])
def test_processor_keeps_shapes(dda, ssm):
    attn, state = _attn(), HelixState(mask_estimate=_mask())
    out = _run(HelixAttnProcessor(state, inner_dim=C, heads=HEADS, dda=dda, ssm=ssm), attn, _hidden())
    assert out.shape == (2 * B, N, C)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("stock", [AttnProcessor2_0, AttnProcessor])
def test_ssm_off_is_stock_attention(stock):
    attn, h = _attn(), _hidden()
    ref = _run(stock(), attn, h)
    proc = HelixAttnProcessor(HelixState(mask_estimate=_mask()), inner_dim=C, heads=HEADS, dda=True, ssm=False)
    torch.testing.assert_close(_run(proc, attn, h), ref, rtol=0, atol=1e-6)


def test_ssm_without_estimate_is_stock_and_with_estimate_is_not():
    attn, h = _attn(), _hidden()
    ref = _run(AttnProcessor2_0(), attn, h)
    state = HelixState()
    proc = HelixAttnProcessor(state, inner_dim=C, heads=HEADS, dda=True, ssm=True)
    torch.testing.assert_close(_run(proc, attn, h), ref, rtol=0, atol=1e-6)
    state.mask_estimate = _mask()
    assert (_run(proc, attn, h) - ref).abs().max() > 1e-4


def test_ssm_bias_matches_explicit_formula():
    """Separation with SSM = softmax(QK^T/sqrt(d) + λ_h m_i (1 - m_j)) V, written out by hand."""
    attn, h, m = _attn(), _hidden(), _mask()
    proc = HelixAttnProcessor(HelixState(mask_estimate=m), inner_dim=C, heads=HEADS, dda=True, ssm=True, ssm_init=0.0)
    with torch.no_grad():
        proc.ssm_scale.copy_(torch.tensor([0.5, 1.0, 2.0, 4.0]))
        q, k, v = (f(h).view(2 * B, N, HEADS, C // HEADS).transpose(1, 2) for f in (attn.to_q, attn.to_k, attn.to_v))
        tok = torch.nn.functional.adaptive_avg_pool2d(m, 4).flatten(1)  # (B, N)
        tok = torch.cat([tok, tok])
        bias = proc.ssm_scale.view(1, HEADS, 1, 1) * (tok[:, None, :, None] * (1 - tok[:, None, None, :]))
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(C // HEADS) + bias, dim=-1)
        expected = attn.to_out[0]((w @ v).transpose(1, 2).reshape(2 * B, N, C))
    torch.testing.assert_close(_run(proc, attn, h), expected, rtol=1e-5, atol=1e-5)


def test_separation_isolates_strands_and_connection_links_them():
    attn, h = _attn(), _hidden()
    h2 = h.clone()
    h2[B:] += torch.randn(B, N, C)  # perturb only the mask strand
    proc = HelixAttnProcessor(HelixState(mask_estimate=_mask()), inner_dim=C, heads=HEADS, dda=True, ssm=True)
    # separation (gate closed, as initialised): the image strand does not see the mask strand
    torch.testing.assert_close(_run(proc, attn, h2)[:B], _run(proc, attn, h)[:B], rtol=0, atol=0)
    # connection + merging (gate open): it does
    with torch.no_grad():
        proc.gate.fill_(0.5)
    assert (_run(proc, attn, h2)[:B] - _run(proc, attn, h)[:B]).abs().max() > 1e-3


def test_no_dda_entangles_strands():
    attn, h = _attn(), _hidden()
    h2 = h.clone()
    h2[B:] += torch.randn(B, N, C)
    proc = HelixAttnProcessor(HelixState(), inner_dim=C, heads=HEADS, dda=False, ssm=False)
    assert (_run(proc, attn, h2)[:B] - _run(proc, attn, h)[:B]).abs().max() > 1e-3


def test_token_grid_rejects_mismatched_grid():
    with pytest.raises(ValueError, match="attention tokens"):
        token_grid(torch.zeros(1, 1, 8, 8), 15)


def _tiny_model(dda: bool) -> HelixDiffusion:
    torch.manual_seed(0)
    spec = BackboneSpec(block_channels=(16, 32), attention_levels=1, attention_heads=2, cross_attention_dim=16)
    return HelixDiffusion(spec, sample_size=8, channels=12, mask_channels=4, dda=dda, ssm=True,
                          prompt_encoder=TokenPromptEncoder(["a", "blob"], 16)).eval()


@pytest.mark.parametrize("dda", [True, False])
def test_unet_strand_coupling(dda):
    """A whole UNet: with DDA at init the image strand ignores the mask strand; without DDA it does not."""
    model = _tiny_model(dda)
    g = torch.Generator().manual_seed(0)
    x, xm = torch.randn(2, 12, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([10, 500])
    est = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    with torch.no_grad():
        ctx = model.encode_prompts(["a blob", "a blob"])
        e1, m1 = model(x, xm, t, ctx, est)
        e2, m2 = model(x, xm + 1.0, t, ctx, est)
    assert e1.shape == (2, 12, 8, 8) and m1.shape == (2, 4, 8, 8)
    assert model.n_helix > 0
    if dda:
        torch.testing.assert_close(e1, e2, rtol=0, atol=0)
    else:
        assert (e1 - e2).abs().max() > 1e-4


def test_install_counts_self_attention_only():
    model = _tiny_model(True)
    procs = model.unet.attn_processors
    helix = [k for k, v in procs.items() if isinstance(v, HelixAttnProcessor)]
    assert helix and all(k.endswith("attn1.processor") for k in helix)
    assert all(isinstance(v, AttnProcessor2_0) for k, v in procs.items() if k.endswith("attn2.processor"))
    # the gates and SSM strengths are trained: they are parameters of the UNet
    names = [n for n, _ in model.unet.named_parameters()]
    assert any(n.endswith("processor.gate") for n in names) and any(n.endswith("processor.ssm_scale") for n in names)
