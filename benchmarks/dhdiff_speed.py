"""DH-Diff speed: train-step time vs a stock diffusers UNet of the same size, and sampling rate.

Usage (CPU, the cpu-quick profile's network):
    python benchmarks/dhdiff_speed.py [--device cpu] [--profile cpu-quick] [--threads N] [--block-channels 48,96,96]

Prints (1) the median optimiser-step time of DH-Diff (both strands, DDA+SSM processors) and of
the same `UNet2DConditionModel` with diffusers' stock processors on the same 2-strand batch, and
their ratio (goal ≤ 1.3×); (2) images/s of the sampling loop at 20 and at 1000 solver steps
(weights untrained: the cost of a sampling step does not depend on them).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--profile", default="cpu-quick")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--sample-n", type=int, default=8, help="pairs per sampling batch")
    ap.add_argument("--long-steps", type=int, default=1000)
    ap.add_argument("--block-channels", default="", help="e.g. 48,96,96 (default: the profile's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from diffusers.models.attention_processor import AttnProcessor2_0

    from generators.diffusion.backbone import make_unet, spec_from
    from generators.dhdiff.generator import DHDiff
    from harness.core import RunContext

    ctx = RunContext(category="bottle", image_size=256, profile=args.profile, device=args.device, show_progress=False)
    params = {"block_channels": [int(c) for c in args.block_channels.split(",")]} if args.block_channels else {}
    gen = DHDiff(params, ctx)
    p = gen.params
    gen._build(["a", "photo", "of", "bottle", "with", "crack"], seed=0)
    gen.defect_types = ["crack"]
    model = gen.model
    dev = torch.device(args.device)
    C, M, r, b = gen.codec.channels, gen.codec.mask_channels, gen.codec.latent_size, p.batch_size
    g = torch.Generator().manual_seed(0)
    x, xm = torch.randn(b, C, r, r, generator=g).to(dev), torch.randn(b, M, r, r, generator=g).to(dev)
    est = (torch.rand(b, 1, p.resolution, p.resolution, generator=g) > 0.8).float().to(dev)
    t = torch.randint(0, 1000, (b,), generator=g).to(dev)
    prompts = ["a photo of a bottle with crack"] * b

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def helix_step():
        e, m = model(x, xm, t, model.encode_prompts(prompts), mask_estimate=est)
        loss = e.square().mean() + m.square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    torch.manual_seed(0)
    stock = make_unet(spec_from(p), sample_size=r, in_channels=C, out_channels=C, num_domains=2).to(dev)
    stock.set_attn_processor(AttnProcessor2_0())
    enc = gen.model.prompts
    sopt = torch.optim.AdamW(list(stock.parameters()) + list(enc.parameters()), lr=1e-4)
    xs = torch.cat([x, xm.repeat(1, C // M, 1, 1)])
    labels = torch.cat([torch.zeros(b), torch.ones(b)]).long().to(dev)

    def stock_step():
        ctx_ = enc(prompts)
        out = stock(xs, torch.cat([t, t]), encoder_hidden_states=torch.cat([ctx_, ctx_]), class_labels=labels).sample
        loss = out.square().mean()
        sopt.zero_grad()
        loss.backward()
        sopt.step()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    n_h = sum(q.numel() for q in model.parameters())
    n_s = sum(q.numel() for q in stock.parameters()) + sum(q.numel() for q in enc.parameters())
    th = _time(lambda: (helix_step(), sync()), args.repeats)
    ts = _time(lambda: (stock_step(), sync()), args.repeats)
    print(f"profile={args.profile} device={args.device} threads={torch.get_num_threads()} "
          f"resolution={p.resolution} patch={p.patch} block_channels={p.block_channels} batch={b} pairs (UNet batch {2 * b})")
    print(f"params: dhdiff {n_h / 1e6:.3f} M, stock {n_s / 1e6:.3f} M")
    print(f"train step: dhdiff {th * 1e3:.1f} ms, stock UNet {ts * 1e3:.1f} ms, ratio {th / ts:.2f}x (goal <= 1.3x)")

    canv = torch.zeros(args.sample_n, 3, p.resolution, p.resolution)
    pr = ["a photo of a bottle with crack"] * args.sample_n
    for steps in (20, args.long_steps):
        gen.params = p.model_copy(update={"sample_steps": steps, "solver": "ddim"})
        gen.model.eval()
        dt = _time(lambda: gen._denoise(canv, pr, None, 1.0, torch.Generator().manual_seed(0)), 1, warmup=0)
        print(f"sampling: {steps} DDIM steps, {args.sample_n} pairs in {dt:.2f} s = {args.sample_n / dt:.2f} images/s")


if __name__ == "__main__":
    main()
