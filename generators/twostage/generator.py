"""`twostage`: AnomalyDiffusion-style baseline — sample a mask, then inpaint the anomaly into it.

Stage 1 is a mask diffusion model per defect type (prompt-conditioned) trained on the few-shot
masks; stage 2 is a mask-conditioned inpainting diffusion model (input: noisy image, mask,
masked normal image) trained on the few-shot pairs and on normal images under real few-shot
masks (prompt "without defects"), so it sees the same data as DH-Diff. Both stages use the
same backbone factory, codec, training loop, solver and budget as `dhdiff` (each stage runs
`steps` steps at `batch_size`, i.e. the same number of UNet sample-passes as DH-Diff's
`steps` × 2-strand batches), so comparing the two isolates joint vs separate generation.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from harness.core import AnomalyPair, GENERATORS
from generators.diffusion.backbone import BackboneSpec, PromptedUNet, TokenPromptEncoder, prompt_for, spec_from
from generators.diffusion.base import DiffusionGenerator
from generators.diffusion import pretrained as sd
from generators.diffusion.params import PROFILE_DEFAULTS, DiffusionParams
from generators.diffusion.sampling import (
    check_sample_request, plan_samples,
    composite_full_size, dilate, fallback_mask, make_solver, noised,
    sampling_bar, training_target,
)
from generators.diffusion.tensors import BalancedSampler, images_to_tensor, masks_to_tensor, random_flips
from generators.diffusion.training import TrainRng
from harness.core.device import as_tensor, autocast, randn

FORMAT = "twostage-v1"


class TwoStageParams(DiffusionParams):
    pass


@GENERATORS.register("twostage")
class TwoStage(DiffusionGenerator):
    """Two-stage diffusion baseline: mask diffusion, then mask-conditioned inpainting (same backbone as dhdiff)."""

    name = "twostage"
    Params = TwoStageParams
    FORMAT = FORMAT
    SOURCE = ("generators.diffusion", "generators.twostage")
    profile_defaults: dict[str, dict[str, Any]] = PROFILE_DEFAULTS

    def __init__(self, params, context):
        super().__init__(params, context)
        self.mask_model: PromptedUNet | None = None
        self.paint_model: PromptedUNet | None = None
        self.train_losses: dict[str, list[float]] = {}

    def _networks(self) -> dict:
        return {"mask_model": self.mask_model, "paint_model": self.paint_model}

    def _vocab(self) -> list[str]:
        return self.mask_model.prompts.vocab if self.mask_model.prompts is not None else []

    def _paint_mask(self, masks: torch.Tensor) -> torch.Tensor:
        """The mask as the inpainting model's input: on a pretrained backbone SD-inpainting's layout
        (one {0,1} channel on the latent grid, max-pooled so thin defects stay), else the codec's."""
        if self.params.pretrained:
            return F.adaptive_max_pool2d(masks, self.codec.latent_size)
        return self.codec.encode_mask(masks)

    def _build_scratch(self, spec: BackboneSpec, vocab: Sequence[str]) -> None:
        p = self.params
        C, M, r = self.codec.channels, self.codec.mask_channels, self.codec.latent_size
        enc = lambda: None if self.text_encoder else TokenPromptEncoder(vocab, p.cross_attention_dim)  # noqa: E731
        self.mask_model = PromptedUNet(spec, sample_size=r, in_channels=M, out_channels=M, prompt_encoder=enc())
        self.paint_model = PromptedUNet(spec, sample_size=r, in_channels=2 * C + M, out_channels=C,
                                        prompt_encoder=enc())

    def _build_pretrained(self, seed: int) -> None:
        """Both stages on the pretrained SD UNet (two copies, each LoRA- or fully fine-tuned): stage 1
        with its own conv_in/conv_out for the space-to-depth mask; stage 2 with conv_in widened to
        ``[noisy latent, mask, masked-canvas latent]`` (SD-inpainting's 9 channels; the new inputs
        zero-initialised, so it starts as the pretrained UNet; an inpainting checkpoint fits as is)."""
        p = self.params
        C, M, r = self.codec.channels, self.codec.mask_channels, self.codec.latent_size
        spec = spec_from(p)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            mask_unet, paint_unet = sd.load_unet(p.pretrained), sd.load_unet(p.pretrained)
            for unet in (mask_unet, paint_unet):
                sd.prepare_finetune(unet, finetune=p.finetune, lora_rank=p.lora_rank,
                                    gradient_checkpointing=p.gradient_checkpointing)
            cin, cout = mask_unet.conv_in, mask_unet.conv_out
            mask_unet.conv_in = torch.nn.Conv2d(M, cin.out_channels, cin.kernel_size, cin.stride, cin.padding)
            mask_unet.conv_out = sd.zero_conv_like(cout, cout.in_channels, M, keep=False)
            if paint_unet.conv_in.in_channels != 2 * C + 1:
                paint_unet.conv_in = sd.zero_conv_like(paint_unet.conv_in, 2 * C + 1, paint_unet.conv_in.out_channels,
                                                       keep=True)
            paint_unet.conv_in.requires_grad_(True)
            self.mask_model = PromptedUNet(spec, sample_size=r, in_channels=M, out_channels=M, prompt_encoder=None,
                                           unet=mask_unet)
            self.paint_model = PromptedUNet(spec, sample_size=r, in_channels=2 * C + 1, out_channels=C,
                                            prompt_encoder=None, unet=paint_unet)

    # ------------------------------------------------------------------ fit
    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        R = self.params.resolution
        data = self._fit_data(normal_images, anomaly_pairs, R)
        labels, n_normal = data.labels, data.n_normal
        defect_labels = labels[n_normal:]
        self._build(TokenPromptEncoder.vocab_for(list(data.prompts.values())), seed)
        p, dev = self.params, self.device  # the pretrained path takes `prediction` from the checkpoint
        codec = self.codec
        latents = self._encode_images(data.images)
        images = data.images.to(dev)
        real_masks = data.anomaly_masks.to(dev)
        alphas = self._alphas()
        T = len(alphas)

        def cond(prompts_of_items: list[str], rng: TrainRng) -> list[str | None]:
            drop = rng.numpy.random(len(prompts_of_items)) < p.cond_dropout
            return [None if d else q for d, q in zip(drop, prompts_of_items)]

        def noisy(x0: torch.Tensor, rng: TrainRng) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """(x_t, the training target, t) for clean `x0`."""
            t = rng.randint(0, T, (x0.shape[0],))
            eps = rng.randn(x0.shape)
            a = alphas[t].view(-1, 1, 1, 1)
            return a.sqrt() * x0 + (1 - a).sqrt() * eps, training_target(x0, eps, a, p.prediction), t

        mask_sampler = BalancedSampler(defect_labels)

        def mask_loss(model, rng: TrainRng) -> torch.Tensor:
            idx = mask_sampler.draw(rng, p.batch_size)
            (m,) = random_flips([real_masks[as_tensor(idx, dev)]], rng, p.flips)
            x_t, target, t = noisy(codec.encode_mask(m), rng)
            ctx = model.encode_prompts(cond([data.prompts[defect_labels[i]] for i in idx.tolist()], rng), self.text_encoder)
            return F.mse_loss(model(x_t, t, ctx).float(), target)

        paint_sampler = BalancedSampler(labels)

        def paint_loss(model, rng: TrainRng) -> torch.Tensor:
            idx = paint_sampler.draw(rng, p.batch_size)
            # normals are inpainted under a random real mask (prompt "without defects")
            other = rng.numpy.integers(len(real_masks), size=len(idx))
            which = np.where(idx >= n_normal, np.clip(idx - n_normal, 0, None), other)
            items = as_tensor(idx, dev)
            x0, m, img = random_flips([latents[items], real_masks[as_tensor(which, dev)], images[items]], rng, p.flips)
            masked = codec.encode(img * (1 - m))
            x_t, target, t = noisy(x0, rng)
            ctx = model.encode_prompts(cond([data.prompts[labels[i]] for i in idx.tolist()], rng), self.text_encoder)
            pred = model(torch.cat([x_t, self._paint_mask(m), masked], 1), t, ctx)
            w = 1 + p.fg_loss_weight * F.adaptive_max_pool2d(m, x0.shape[-1])
            return (w * (pred.float() - target) ** 2).mean()

        key = self._fit_key(set(), seed, labels, data.images.numpy(), data.anomaly_masks.numpy())
        self.train_losses = {}
        for stage, model, loss in (("mask", self.mask_model, mask_loss), ("inpaint", self.paint_model, paint_loss)):
            res = self._train(model, loss, seed=seed + (stage == "inpaint"), key=key, file=f"{self.name}-{stage}",
                              desc=f"{self.name}:{stage}")
            self.train_losses[stage] = res.losses

    # ------------------------------------------------------------------ sample
    def _guided_eps(self, model: PromptedUNet, x: torch.Tensor, t, ctx: torch.Tensor, cfg: bool) -> torch.Tensor:
        """The network's output at host timestep `t`, with classifier-free guidance when `cfg`."""
        t_dev = torch.full((), int(t), dtype=torch.long, device=x.device)  # made on the device: no host copy
        with autocast(x.device, self.params.precision):
            if not cfg:
                return model(x, t_dev, ctx).float()
            b = x.shape[0]
            e = model(torch.cat([x, x]), t_dev, ctx).float()
        return e[:b] + self.params.guidance_scale * (e[b:] - e[:b])

    def _ctx(self, model: PromptedUNet, prompts: Sequence[str], cfg: bool) -> torch.Tensor:
        return model.encode_prompts(([None] * len(prompts) if cfg else []) + list(prompts), self.text_encoder)

    @torch.no_grad()
    def _sample_masks(self, prompts: Sequence[str], gen: torch.Generator) -> torch.Tensor:
        """Stage 1: mask logits (b,1,R,R)."""
        p, codec, dev = self.params, self.codec, self.device
        solver = make_solver(p.solver, p.sample_steps, codec.clip, p.prediction, self.schedule)
        cfg = p.guidance_scale != 1.0
        ctx = self._ctx(self.mask_model, prompts, cfg)
        x = randn((len(prompts), codec.mask_channels, codec.latent_size, codec.latent_size), gen, dev)
        for t in solver.timesteps:
            x = solver.step(self._guided_eps(self.mask_model, x, t, ctx, cfg), t, x).prev_sample
            self._tick(len(prompts))
        return codec.decode_mask(x).cpu()

    @torch.no_grad()
    def _inpaint(self, canvases: torch.Tensor, masks: torch.Tensor, prompts: Sequence[str],
                 gen: torch.Generator) -> torch.Tensor:
        """Stage 2: images (b,3,R,R) painted inside `masks` (b,1,R,R) on `canvases`."""
        p, codec, dev = self.params, self.codec, self.device
        solver = make_solver(p.solver, p.sample_steps, codec.clip, p.prediction, self.schedule)
        cfg = p.guidance_scale != 1.0
        canvases, masks = canvases.to(dev), masks.to(dev)
        z_canvas = codec.encode(canvases)
        cond = torch.cat([self._paint_mask(masks), codec.encode(canvases * (1 - masks))], 1)
        keep = dilate(F.adaptive_max_pool2d(masks, codec.latent_size), 1)
        ctx = self._ctx(self.paint_model, prompts, cfg)
        x = randn(z_canvas.shape, gen, dev)
        for t in solver.timesteps:
            x = keep * x + (1 - keep) * noised(solver, z_canvas, t, gen)
            eps = self._guided_eps(self.paint_model, torch.cat([x, cond], 1), t, ctx, cfg)
            x = solver.step(eps, t, x).prev_sample
            self._tick(len(prompts))
        return codec.decode(x).cpu()

    def sample(self, n: int, *, normal_images: Sequence[np.ndarray], defect_type: str | None = None, seed: int,
               masks: Sequence[np.ndarray] | None = None) -> list[AnomalyPair]:
        """`n` pairs on the given canvases; with `masks` (HxW bool, cycled) stage 1 is skipped and
        the anomaly is painted inside exactly those masks."""
        check_sample_request(self.name, self.mask_model is not None, defect_type, self.defect_types, masks)
        stages = 1 if masks is not None else 2
        self._bar = sampling_bar(n * self.params.sample_steps * stages, f"{self.name}: sampling",
                                 self.context.show_progress)
        try:
            return self._sample(n, normal_images, defect_type, seed, masks)
        finally:
            self._bar.close()
            self._bar = None

    def _sample(self, n: int, normal_images: Sequence[np.ndarray], defect_type: str | None, seed: int,
                masks: Sequence[np.ndarray] | None) -> list[AnomalyPair]:
        p, R = self.params, self.params.resolution
        rng, gen, canvas_idx, types = plan_samples(normal_images, n, defect_type, self.defect_types, seed, self.device)
        pairs: list[AnomalyPair] = []
        for start in range(0, n, p.sample_batch):
            sl = range(start, min(n, start + p.sample_batch))
            canv_full = [normal_images[canvas_idx[i]] for i in sl]
            prompts = [prompt_for(self.context.category, types[i]) for i in sl]
            given = [masks[i % len(masks)] for i in sl] if masks is not None else None
            if given is not None:
                small = masks_to_tensor(given, R)
            else:
                small = (self._sample_masks(prompts, gen) > 0).float()
                for attempt in range(p.max_resample + 1):
                    empty = [j for j in range(len(sl)) if not small[j].any()]
                    if not empty:
                        break
                    if attempt < p.max_resample:
                        self._bar.total += len(empty) * p.sample_steps
                        small[empty] = (self._sample_masks([prompts[j] for j in empty], gen) > 0).float()
                    else:
                        small[empty] = torch.stack([fallback_mask(self.fallback_masks[types[sl[j]]], rng) for j in empty])
            imgs = self._inpaint(images_to_tensor(canv_full, R), small, prompts, gen)
            for j, i in enumerate(sl):
                image, mask = composite_full_size(np.asarray(canv_full[j], dtype=np.uint8), imgs[j],
                                                  small[j, 0].numpy() > 0.5,
                                                  full_mask=given[j] if given is not None else None)
                pairs.append(AnomalyPair(image=image, mask=mask, defect_type=types[i]))
        return pairs
