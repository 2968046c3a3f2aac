"""Shared diffusion parts for the diffusion generators (DH-Diff, two-stage baseline).

One backbone factory (`backbone`), one training loop (`training`), one set of sampling
utilities (`sampling`), so that the generators built on them differ only in what the
comparison is about (joint image+mask diffusion vs separate mask and inpainting models).
"""
