"""`dhdiff`, `dhdiff-no-dda`, `dhdiff-no-ssm`: DH-Diff, joint image + mask diffusion (arXiv 2509.12787).

The paper's idea: one backbone synthesises the anomaly image and its pixel mask together,
with domain-decoupled attention (DDA) and score-map modification (SSM). The internals are
ours (see `generators/dhdiff/attention.py` and docs/dhdiff.md). Sampling draws on a given
normal image: the image strand outside the current mask estimate is replaced by the noised
canvas at every step (RePaint-style), and the final image is the canvas outside the final
binary mask, byte for byte. A given mask/sketch can guide the mask strand.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from harness.core import AnomalyPair, GENERATORS
from generators.diffusion.backbone import BackboneSpec, TokenPromptEncoder, prompt_for, spec_from
from generators.diffusion.base import DiffusionGenerator
from generators.diffusion.sampling import (
    check_sample_request, plan_samples,
    composite_full_size, dilate, fallback_mask, flip_in_box, make_solver, noised, training_target,
    sampling_bar, x0_from_output,
)
from generators.dhdiff.model import HelixDiffusion
from generators.diffusion.tensors import BalancedSampler, images_to_tensor, mask_bounds, masks_to_tensor, random_flips
from generators.diffusion.training import TrainRng
from generators.diffusion.params import PROFILE_DEFAULTS, DiffusionParams
from generators.diffusion import pretrained as sd
from generators.diffusion.windows import anomaly_box, box_around, crop, load_side, random_box
from harness.core.device import as_tensor, autocast, randn
from harness.core.foreground import ObjectEstimate, fit_object, on_object_fraction

FORMAT = "dhdiff-v2"
#: params that change only how samples are drawn: a fit is shared by variants that differ in these
SAMPLING_ONLY = {"background_blend_from", "second_pass", "placement", "mask_sketch", "mask_trim", "defects_per_image"}


class DHDiffParams(DiffusionParams):
    dda: bool = True
    ssm: bool = True
    ssm_init: float = 1.0
    gate_init: float = 0.0  # DDA merging gate at init (0: strands start decoupled)
    ssm_estimate_dropout: float = 0.5  # training: fraction of steps without a mask estimate
    mask_loss_weight: float = 1.0
    background_blend_from: float = 0.2  # fraction of steps after which the background is pinned
    second_pass: bool = False  # sample: redraw the image with the mask strand pinned to the first pass's mask
    window: float = 1.0  # diffusion window side / image side; < 1: anomaly-centred windows (windows.py)
    # sampling: masks only on the object (harness.core.foreground) for defect types whose real
    # few-shot masks lie on it; auto (default: when an object is found), anywhere, or object
    # (required). auto was chosen on the validation fold and the on-object metric, 3 seeds on
    # built-in pushpins and hazelnut (docs/dhdiff.md, "Ablations"); never on test.
    placement: Literal["anywhere", "auto", "object"] = "auto"
    # sampling: > 0 starts the mask strand from a real few-shot mask of the type, flipped at random
    # within its box (the paper's graphical guidance, the few-shot masks as sketches), pinned for
    # this fraction of the solver steps, then free; 0: the model draws every mask itself
    mask_sketch: float = Field(0.0, ge=0.0, le=1.0)
    # sampling: > 0 drops from each drawn mask the pixels whose colour the image strand changed by
    # less than this many grey levels (0-255, any channel), as real masks mark what a defect
    # changed; a mask the trim would empty stays as drawn. 0: the mask strand's mask as is
    mask_trim: float = Field(0.0, ge=0.0, le=255.0)
    # sampling (ours, not the paper's): anomalies of the sample's type painted one after another on
    # the same canvas, each in its own window, the mask their union; 1: one per image, as the paper.
    # More than one gives a supervised detector more anomalous pixels per image (DRAEM's masks
    # cover several regions); ignored when masks are given (the output keeps the given mask)
    defects_per_image: int = Field(1, ge=1, le=8)


@GENERATORS.register("dhdiff")
class DHDiff(DiffusionGenerator):
    """DH-Diff: one diffusers UNet, image and mask strands, DDA + SSM attention processors."""

    name = "dhdiff"
    Params = DHDiffParams
    FORMAT = FORMAT
    SOURCE = ("generators.diffusion", "generators.dhdiff")
    EXTRA_ARCH = ("dda", "ssm", "window")
    # cpu-quick: anomaly-centred windows at the canvas's native resolution and a second pass
    # (docs/dhdiff.md: what made DH-Diff's anomalies visible at a CPU budget); guidance 3 and
    # mask sketches 0.5, chosen on the validation folds of built-in pushpins, hazelnut and battery
    # weld, 3 seeds each (experiments/tune_dhdiff.yaml; docs/dhdiff.md, "What was tried")
    # gpu-full: SSM strengths start at 0 like the gates, so the helix UNet starts as the pretrained
    # SD UNet exactly (tested) and learns how far to depart from it
    profile_defaults: dict[str, dict[str, Any]] = {
        **PROFILE_DEFAULTS, "cpu-quick": {**PROFILE_DEFAULTS["cpu-quick"], "window": 0.5, "second_pass": True,
                                                    "guidance_scale": 3.0, "mask_sketch": 0.5},
        "gpu-full": {**PROFILE_DEFAULTS["gpu-full"], "ssm_init": 0.0}}
    _ablation: dict[str, Any] = {}
    #: the diffusion base's tiny size, on whole canvases in one pass (windows and the second pass
    #: have their own tests, tests/generators/dhdiff)
    tiny_params = {**DiffusionGenerator.tiny_params, "window": 1.0, "second_pass": False}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.profile_defaults = {p: {**d, **cls._ablation} for p, d in DHDiff.profile_defaults.items()}

    def __init__(self, params, context):
        super().__init__(params, context)
        self.model: HelixDiffusion | None = None
        self.train_losses: list[float] = []
        self.resumed_from = 0
        self.object: ObjectEstimate | None = None  # `placement`: the normal images' object
        self.on_object_types: list[str] = []  # defect types whose masks are kept on the object

    # ------------------------------------------------------------------ building
    def _networks(self) -> dict:
        return {"state_dict": self.model}

    def _build_scratch(self, spec: BackboneSpec, vocab: Sequence[str]) -> None:
        p = self.params
        encoder = TokenPromptEncoder(vocab, p.cross_attention_dim) if self.text_encoder is None else None
        self.model = HelixDiffusion(spec, sample_size=self.codec.latent_size, channels=self.codec.channels,
                                    mask_channels=self.codec.mask_channels, dda=p.dda, ssm=p.ssm, ssm_init=p.ssm_init,
                                    gate_init=p.gate_init, prompt_encoder=encoder)

    def _build_pretrained(self, seed: int) -> None:
        """The helix on a pretrained SD UNet: its VAE as the codec (mask: lossless space-to-depth fold),
        its CLIP text encoder for the prompts, its noise schedule and prediction type."""
        p = self.params
        unet = sd.load_unet(p.pretrained)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sd.prepare_finetune(unet, finetune=p.finetune, lora_rank=p.lora_rank,
                                gradient_checkpointing=p.gradient_checkpointing)
            self.model = HelixDiffusion(spec_from(p), sample_size=self.codec.latent_size, channels=self.codec.channels,
                                        mask_channels=self.codec.mask_channels, dda=p.dda, ssm=p.ssm,
                                        ssm_init=p.ssm_init, gate_init=p.gate_init, prompt_encoder=None, unet=unet)

    def _vocab(self) -> list[str]:
        return self.model.prompts.vocab if self.model.prompts is not None else []

    def _extra_state(self) -> dict[str, Any]:
        return {"object": None if self.object is None else {
                    "found_share": self.object.found_share, "n_images": self.object.n_images,
                    "frequency": torch.from_numpy(self.object.frequency)},
                "on_object_types": self.on_object_types}

    def _restore_extra(self, blob: dict[str, Any]) -> None:
        obj = blob.get("object")
        self.object = None if obj is None else ObjectEstimate(float(obj["found_share"]), obj["frequency"].numpy(),
                                                              int(obj["n_images"]))
        self.on_object_types = list(blob.get("on_object_types", []))

    def _context(self, prompts: Sequence[str | None]) -> torch.Tensor:
        return self.model.encode_prompts(prompts, self.text_encoder)

    # ------------------------------------------------------------------ fit
    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        p = self.params
        R = p.resolution
        L = load_side(R, p.window)
        data = self._fit_data(normal_images, anomaly_pairs, L)
        labels = data.labels
        masks = torch.cat([torch.zeros(data.n_normal, 1, L, L), data.anomaly_masks])  # host; normals have none
        bounds = [mask_bounds(m) for m in masks]  # where each anomaly is, looked up once on the host
        self._fit_placement(normal_images, anomaly_pairs)
        self._build(TokenPromptEncoder.vocab_for(list(data.prompts.values())), seed)
        p = self.params  # the pretrained path takes `prediction` from the checkpoint
        dev = self.device
        latents = self._encode_images(data.images)
        masks_dev = masks.to(dev)
        f = self.codec.factor
        sampler = BalancedSampler(labels)
        alphas = self._alphas()
        T = len(alphas)

        def step_loss(model, rng: TrainRng) -> torch.Tensor:
            idx = sampler.draw(rng, p.batch_size)
            boxes = [random_box(L, R, rng.numpy, f) if labels[i] == "good" else box_around(bounds[i], L, R, rng.numpy, f)
                     for i in idx.tolist()]
            items = as_tensor(idx, dev)
            win_masks = crop(masks_dev[items], boxes, R)
            win_lat = crop(latents[items], [(y // f, x // f) for y, x in boxes], R // f)
            x0, m0, mfull = random_flips([win_lat, self.codec.encode_mask(win_masks), win_masks], rng, p.flips)
            b = x0.shape[0]
            t = rng.randint(0, T, (b,))
            e_img, e_m = rng.randn(x0.shape), rng.randn(m0.shape)
            a = alphas[t].view(-1, 1, 1, 1)
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * e_img
            m_t = a.sqrt() * m0 + (1 - a).sqrt() * e_m
            drop = rng.numpy.random(b) < p.cond_dropout
            prompts = [None if d else data.prompts[labels[i]] for d, i in zip(drop, idx.tolist())]
            est = mfull if rng.numpy.random() >= p.ssm_estimate_dropout else None
            pred_img, pred_m = model(x_t, m_t, t, self._context(prompts), mask_estimate=est)
            w = 1 + p.fg_loss_weight * F.adaptive_max_pool2d(mfull, x0.shape[-1])
            target_img = training_target(x0, e_img, a, p.prediction)
            target_m = training_target(m0, e_m, a, p.prediction)
            return ((w * (pred_img.float() - target_img) ** 2).mean()
                    + p.mask_loss_weight * F.mse_loss(pred_m.float(), target_m))

        key = self._fit_key(SAMPLING_ONLY, seed, labels, data.images.numpy(), masks.numpy())
        result = self._train(self.model, step_loss, seed=seed, key=key, file=self.name, desc=self.name)
        self.train_losses = result.losses
        self.resumed_from = result.resumed_from

    def _fit_placement(self, normal_images: Sequence[np.ndarray], pairs: Sequence[AnomalyPair]) -> None:
        """`placement`: the object of the normal images, and the defect types to keep on it (those
        whose real few-shot masks lie on the object: at least half their area)."""
        self.object, self.on_object_types = None, []
        if self.params.placement == "anywhere":
            return
        self.object = fit_object(normal_images)
        if not self.object.has_object:
            if self.params.placement == "object":
                raise ValueError(f"{self.name}: placement 'object' but no object/background split was found in "
                                 f"{1 - self.object.found_share:.0%} of the normal images; set placement: auto or anywhere")
            self.object = None
            return
        for t in self.defect_types:
            of_type = [a for a in pairs if a.defect_type == t]
            share = on_object_fraction([a.mask for a in of_type],
                                       [self.object.region(a.image, a.mask) for a in of_type])
            if share is not None and share >= 0.5:
                self.on_object_types.append(t)

    def _allowed(self, canvases: Sequence[np.ndarray], types: Sequence[str], boxes: list[tuple[int, int]],
                 side: int) -> torch.Tensor | None:
        """(b,1,R,R) windows of where each sample's mask may go (its canvas's object, at the load
        side `side`, majority-pooled), ones for types not kept on the object; None: anywhere."""
        if self.object is None or not any(t in self.on_object_types for t in types):
            return None
        regions = []
        for canvas, t in zip(canvases, types):
            obj = self.object.region(np.asarray(canvas)) if t in self.on_object_types else None
            r = torch.ones(1, 1, side, side) if obj is None else torch.from_numpy(obj).float()[None, None]
            if r.shape[-1] != side or r.shape[-2] != side:
                r = (F.interpolate(r, size=(side, side), mode="area") >= 0.5).float()
            regions.append(r)
        return crop(torch.cat(regions), boxes, self.params.resolution)

    def _trim_unchanged(self, logits: torch.Tensor, images: torch.Tensor, canvases: torch.Tensor) -> torch.Tensor:
        """Mask logits set to "no mask" where the drawn image differs from the canvas by less than
        `mask_trim` grey levels: a labelled pixel that looks normal teaches a detector to flag
        normal pixels. A mask the trim would empty is kept as drawn (the sample count is fixed)."""
        change = (images - canvases).abs().amax(dim=1, keepdim=True) * 127.5
        trimmed = torch.where(change >= self.params.mask_trim, logits, torch.full_like(logits, -1.0))
        kept = (trimmed > 0).flatten(1).any(dim=1).view(-1, 1, 1, 1)
        return torch.where(kept, trimmed, logits)

    @staticmethod
    def _keep_on(logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """Mask logits outside the allowed region set to "no mask"."""
        return logits if allowed is None else torch.where(allowed > 0, logits, torch.full_like(logits, -1.0))

    # ------------------------------------------------------------------ sample
    @torch.no_grad()
    def _denoise(self, canvases: torch.Tensor, prompts: Sequence[str], guide: torch.Tensor | None,
                 mask_guidance: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: host canvases (b,3,R,R) in [-1,1] → host (images (b,3,R,R), mask logits (b,1,R,R)).

        The loop runs on the device; only the two results come back."""
        p, codec, dev = self.params, self.codec, self.device
        solver = make_solver(p.solver, p.sample_steps, codec.clip, p.prediction, self.schedule)
        C, r, b = codec.channels, codec.latent_size, canvases.shape[0]
        z_canvas = codec.encode(canvases.to(dev))
        x = randn((b, C + codec.mask_channels, r, r), gen, dev)
        guide = guide.to(dev) if guide is not None else None
        g_lat = codec.encode_mask(guide) if guide is not None else None
        cfg = p.guidance_scale != 1.0  # scale 1 is the conditional model alone: skip the unconditional pass
        ctx = self._context(([None] * b if cfg else []) + list(prompts))
        est = None
        steps = list(solver.timesteps)  # host timesteps: the solver looks them up on the host
        n_guided = round(mask_guidance * len(steps)) if guide is not None else 0
        for k, t in enumerate(steps):
            if k < n_guided:
                x[:, C:] = noised(solver, g_lat, t, gen)
                est = guide
            if est is not None and k >= p.background_blend_from * len(steps):
                keep = dilate((F.adaptive_max_pool2d(est, r) > 0.5).float(), 1)
                x[:, :C] = keep * x[:, :C] + (1 - keep) * noised(solver, z_canvas, t, gen)
            xi, xm = x[:, :C], x[:, C:]
            reps = 2 if cfg else 1
            t_dev = torch.full((), int(t), dtype=torch.long, device=dev)  # made on the device: no host copy
            with autocast(dev, p.precision):
                e_i, e_m = self.model(xi.repeat(reps, 1, 1, 1), xm.repeat(reps, 1, 1, 1), t_dev, ctx,
                                      mask_estimate=None if est is None else est.repeat(reps, 1, 1, 1))
            e_i, e_m = e_i.float(), e_m.float()
            if cfg:
                e_i = e_i[:b] + p.guidance_scale * (e_i[b:] - e_i[:b])
                e_m = e_m[:b] + p.guidance_scale * (e_m[b:] - e_m[:b])
            m0 = x0_from_output(solver, xm, e_m, t).clamp(-1, 1)
            est = ((codec.decode_mask(m0) + 1) / 2).clamp(0, 1)
            x = solver.step(torch.cat([e_i, e_m], dim=1), t, x).prev_sample
            self._tick(b)
        images = codec.decode(x[:, :C])
        logits = codec.decode_mask(x[:, C:])
        if n_guided == len(steps):
            logits = guide * 2 - 1
        return images.cpu(), logits.cpu()

    def _window_box(self, mask: torch.Tensor, rng: np.random.Generator, *, exact: bool) -> tuple[int, int]:
        """Top-left of the diffusion window for an anomaly at `mask` (1,L,L); `exact` (a given mask
        the output must keep): centred without jitter, and the mask must fit in the window."""
        R = self.params.resolution
        L = mask.shape[-1]
        if L == R:
            return 0, 0
        if not exact:
            return anomaly_box(mask, R, rng, self.codec.factor)
        ys, xs = torch.nonzero(mask[0] > 0, as_tuple=True)
        if int(ys.max() - ys.min()) + 1 > R or int(xs.max() - xs.min()) + 1 > R:
            raise ValueError(f"{self.name}: a given mask spans more than the diffusion window "
                             f"(window {self.params.window} = {R} of {L} px); use window: 1.0 for masks this large")
        cy, cx = (ys.min() + ys.max() + 1).item() / 2, (xs.min() + xs.max() + 1).item() / 2
        f = self.codec.factor

        def start(c: float, last: int) -> int:
            lo = int(np.clip(round(c - R / 2), 0, L - R)) // f * f
            # aligning down to the codec factor may cut the mask's far edge: one step right then
            return lo + f if lo + R <= last and lo + f + R <= L else lo

        return start(cy, ys.max().item()), start(cx, xs.max().item())

    def sample(self, n: int, *, normal_images: Sequence[np.ndarray], defect_type: str | None = None, seed: int,
               masks: Sequence[np.ndarray] | None = None, mask_guidance: float = 1.0) -> list[AnomalyPair]:
        """`n` pairs on the given canvases. With `masks` (HxW bool, cycled), the mask strand is pinned
        to the noised given mask for the first `mask_guidance` fraction of steps (1.0: the output mask
        is the given mask; < 1, e.g. for a rough sketch: the model refines it). With ``window < 1`` each
        anomaly is drawn in a window placed where a real mask of its type (or the given mask) lies."""
        check_sample_request(self.name, self.model is not None, defect_type, self.defect_types, masks)
        p = self.params
        passes = 1 if not p.second_pass or (masks is not None and mask_guidance >= 1.0) else 2
        passes *= self._defect_rounds(masks)
        self._bar = sampling_bar(n * p.sample_steps * passes, f"{self.name}: sampling", self.context.show_progress)
        try:
            return self._sample(n, normal_images, defect_type, seed, masks, mask_guidance)
        finally:
            self._bar.close()
            self._bar = None

    def _defect_rounds(self, masks: Sequence[np.ndarray] | None) -> int:
        """Anomalies painted per image: `defects_per_image`, or 1 when masks are given (the output
        keeps the given mask). One rule for the sampling loop and its progress bar's total."""
        return self.params.defects_per_image if masks is None else 1

    def _sample(self, n: int, normal_images: Sequence[np.ndarray], defect_type: str | None, seed: int,
                masks: Sequence[np.ndarray] | None, mask_guidance: float) -> list[AnomalyPair]:
        p = self.params
        rng, gen, canvas_idx, types = plan_samples(normal_images, n, defect_type, self.defect_types, seed, self.device)
        pairs: list[AnomalyPair] = []
        for start in range(0, n, p.sample_batch):
            sl = range(start, min(n, start + p.sample_batch))
            batch_types = [types[i] for i in sl]
            given = [masks[i % len(masks)] for i in sl] if masks is not None else None
            painted = self._paint([normal_images[canvas_idx[i]] for i in sl], batch_types, given, mask_guidance,
                                  rng, gen)
            for _ in range(self._defect_rounds(masks) - 1):
                more = self._paint([image for image, _ in painted], batch_types, None, mask_guidance, rng, gen)
                painted = [(image, first | mask) for (_, first), (image, mask) in zip(painted, more)]
            pairs.extend(AnomalyPair(image=image, mask=mask, defect_type=t) for (image, mask), t in
                         zip(painted, batch_types))
        return pairs

    def _paint(self, canv_full: list[np.ndarray], types: list[str], given: list[np.ndarray] | None,
               mask_guidance: float, rng: np.random.Generator, gen: torch.Generator
               ) -> list[tuple[np.ndarray, np.ndarray]]:
        """One anomaly of `types[j]` on each canvas `canv_full[j]`: (image uint8, mask bool), full size."""
        p, R = self.params, self.params.resolution
        L = load_side(R, p.window)
        sl = range(len(canv_full))
        canv_load = images_to_tensor(canv_full, L)
        prompts = [prompt_for(self.context.category, t) for t in types]
        exact_given = given is not None and mask_guidance >= 1.0
        guide_load = masks_to_tensor(given, L) if given is not None else None
        guidance = mask_guidance
        if guide_load is None and p.mask_sketch > 0:
            guide_load = torch.stack([flip_in_box(fallback_mask(self.fallback_masks[types[i]], rng), rng)
                                      for i in sl])
            guidance = p.mask_sketch
        if guide_load is not None:
            boxes = [self._window_box(m, rng, exact=exact_given) for m in guide_load]
        elif L == R:
            boxes = [(0, 0)] * len(sl)
        else:
            boxes = [self._window_box(fallback_mask(self.fallback_masks[types[i]], rng), rng, exact=False)
                     for i in sl]
        canv = crop(canv_load, boxes, R)
        guide = crop(guide_load, boxes, R) if guide_load is not None else None
        imgs, logits = self._denoise(canv, prompts, guide, guidance, gen)
        allowed = None if exact_given else self._allowed(canv_full, types, boxes, L)
        logits = self._keep_on(logits, allowed)
        # resample empty masks with fresh noise, then fall back to a real mask of the defect type
        for attempt in range(p.max_resample + 1):
            empty = [j for j in range(len(sl)) if not (logits[j] > 0).any()]
            if not empty:
                break
            if attempt < p.max_resample:
                fb_guide, fb_mg = (guide[empty], guidance) if guide is not None else (None, 1.0)
            else:
                real = [fallback_mask(self.fallback_masks[types[j]], rng) for j in empty]
                for j, m in zip(empty, real):
                    boxes[j] = self._window_box(m, rng, exact=False)
                canv[empty] = crop(canv_load[empty], [boxes[j] for j in empty], R)
                fb_guide = crop(torch.stack(real), [boxes[j] for j in empty], R)
                fb_mg = 1.0
            self._bar.total += len(empty) * p.sample_steps
            ri, rl = self._denoise(canv[empty], [prompts[j] for j in empty], fb_guide, fb_mg, gen)
            if attempt < p.max_resample and allowed is not None:  # the last attempt is a real mask: kept
                rl = self._keep_on(rl, allowed[empty])
            imgs[empty], logits[empty] = ri, rl
        if p.second_pass and not exact_given:
            # the mask strand pinned to its own first-pass mask: SSM and the connection see the
            # final mask from the first step, so the image strand paints where the mask is
            imgs, logits = self._denoise(canv, prompts, (logits > 0).float(), 1.0, gen)
        if p.mask_trim > 0 and not exact_given:
            logits = self._trim_unchanged(logits, imgs, canv)
        out = []
        for j in sl:
            canvas = np.asarray(canv_full[j], dtype=np.uint8)
            exact = given[j] if exact_given else None
            out.append(composite_full_size(canvas, imgs[j], (logits[j, 0] > 0).numpy(), full_mask=exact,
                                           box=(*boxes[j], L)))
        return out


@GENERATORS.register("dhdiff-no-dda")
class DHDiffNoDDA(DHDiff):
    """DH-Diff ablation: DDA off (strands entangled in one joint attention), SSM on."""

    name = "dhdiff-no-dda"
    _ablation = {"dda": False}


@GENERATORS.register("dhdiff-no-ssm")
class DHDiffNoSSM(DHDiff):
    """DH-Diff ablation: SSM off (no score-map bias), DDA on."""

    name = "dhdiff-no-ssm"
    _ablation = {"ssm": False}


