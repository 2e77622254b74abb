"""Text-guided cross-modal latent inversion, batched over queries and restarts.

For M query texts and K restarts, one parameter tensor of shape (M*K, ...) is optimised
with Adam so that each media embedding aligns with its query's text embedding; since the
loss is a sum of per-row terms and the target runs in eval mode, one batched
forward/backward gives every restart exactly its own gradient (tested), at a fraction of
the cost of K*M separate inversions (benchmarks/umid_batching.py).

Inversion spaces (``space``):
- ``pixel``: every pixel through a sigmoid, so inputs stay valid images (default: it
  needs nothing of the target but its gradient path, and works for any image tower);
- ``lowres:R``: an R x R image upsampled bilinearly, a low-dimensional parametrisation
  that cannot align arbitrary text by adversarial high-frequency patterns;
- ``waveform``: audio samples through tanh (CLAP targets);
- ``input``: the model input itself, unconstrained (standardised pixels; for CLAP towers
  with a spectrogram latent, the standardised log-mel: the default on audio, because
  waveform inversion through the STFT front end barely moves the embedding).
Restarts are independent: each row gets its own fresh Gaussian initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class InversionResult:
    """``embeddings``: (M, K, D) final normalised media embeddings; ``trajectory``: (M, K, steps)
    cosine to the text at every step; ``forward_backward``: passes run (batched rows x steps)."""

    embeddings: np.ndarray
    trajectory: np.ndarray
    forward_backward: int


def resolve_space(space: str, modality: str) -> str:
    """The default ``pixel`` means "the target's natural parametrisation": on audio targets
    that is the model input (the spectrogram latent of towers that expose one)."""
    if modality == "audio":
        if space == "pixel":
            return "input"
        if space in ("input", "waveform"):
            return space
        raise ValueError(f"inversion space {space!r} parametrises images; audio targets invert their model input "
                         "(space=input, the default on audio: a log-mel latent where the tower has one) or the "
                         "waveform (space=waveform)")
    if space == "waveform":
        raise ValueError("inversion space 'waveform' is for audio targets; this target is image-text: use pixel, "
                         "lowres:R or input")
    return space


def _param_shape(space: str, target) -> tuple[int, ...]:
    if space == "input":
        return tuple(target.media_input_shape)
    if space == "pixel" or space == "waveform":
        return tuple(target.unit_shape)
    if space.startswith("lowres:"):
        r = int(space.split(":")[1])
        return (target.unit_shape[0], r, r)
    raise ValueError(f"unknown inversion space {space!r}; valid: pixel, lowres:R (e.g. lowres:8), waveform, input")


def _to_unit(z, space: str, input_shape: tuple[int, ...]):
    import torch

    if space == "waveform":
        return torch.tanh(z)
    x = torch.sigmoid(z)
    if space.startswith("lowres:"):
        x = torch.nn.functional.interpolate(x, size=input_shape[1:], mode="bilinear", align_corners=False)
    return x


def _to_input(z, space: str, target):
    """Parameters -> model inputs: ``input`` optimises them directly, other spaces map through
    valid media (sigmoid pixels, tanh waveforms) and the target's own preprocessing."""
    if space == "input":
        return z
    return target.media_from_unit(_to_unit(z, space, target.unit_shape))


def invert(target, text_emb: np.ndarray, k: int, steps: int, lr: float, space: str,
           query_seeds: list[int], chunk: int = 1024, init_scale: float = 1.0) -> InversionResult:
    """Invert M text embeddings (M, D) with K restarts each; see the module docstring.

    ``query_seeds[i]`` seeds query i's K initialisations, so a query's result does not
    depend on which other queries share its batch or their order.
    """
    m, d = text_emb.shape
    shape = _param_shape(space, target)
    init = np.concatenate([np.random.default_rng(s).standard_normal((k, *shape), dtype=np.float32)
                           for s in query_seeds]) * init_scale  # a fresh start per restart
    goal = np.repeat(text_emb, k, axis=0)
    emb, traj = optimise(target, init, goal, steps, lr, space, chunk)
    return InversionResult(emb.reshape(m, k, d), traj.reshape(m, k, steps), m * k * (steps + 1))


def optimise(target, init: np.ndarray, goal: np.ndarray, steps: int, lr: float, space: str,
             chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Adam on ``init`` (rows, ...) towards ``goal`` (rows, D), ``chunk`` rows per batched
    forward/backward. Returns final embeddings (rows, D) and the cosine trajectory (rows, steps)."""
    import torch

    rows = init.shape[0]
    device = target.device
    goal_all = torch.from_numpy(np.ascontiguousarray(goal, dtype=np.float32)).to(device)
    emb_out = np.zeros((rows, goal.shape[1]), np.float32)
    traj = np.zeros((rows, steps), np.float32)
    for a in range(0, rows, chunk):
        b = min(rows, a + chunk)
        z = torch.from_numpy(init[a:b]).to(device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        goal_t = goal_all[a:b]
        for step in range(steps):
            emb = target.media_features(_to_input(z, space, target))
            cos = (emb * goal_t).sum(-1)
            opt.zero_grad(set_to_none=True)
            (-cos.sum()).backward()
            opt.step()
            traj[a:b, step] = cos.detach().cpu().numpy()
        with torch.no_grad():
            final = target.media_features(_to_input(z, space, target))
        emb_out[a:b] = final.cpu().numpy()
    return emb_out, traj


def similarity_variability(result: InversionResult, text_emb: np.ndarray) -> dict[str, np.ndarray]:
    """Per query: S = mean cosine of the K inverted embeddings to the text; D = mean squared
    distance of the K embeddings to their centroid (the theorem's D^2); plus the similarity
    gain along the trajectory and the best restart's cosine."""
    emb = result.embeddings
    cos = np.einsum("mkd,md->mk", emb, text_emb)
    centroid = emb.mean(1, keepdims=True)
    traj = result.trajectory.mean(1)  # (M, steps)
    return {
        "S": cos.mean(1),
        "D": ((emb - centroid) ** 2).sum(-1).mean(1),
        "S_max": cos.max(1),
        "S_gain": traj[:, -1] - traj[:, 0],
        "S_early": traj[:, min(4, traj.shape[1] - 1)],
    }
