"""Background (non-PII) image-caption pairs: coloured shapes on textures, compositional captions."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (240, 210, 40),
           "purple": (140, 60, 180), "orange": (245, 140, 30), "white": (245, 245, 245), "black": (25, 25, 25),
           "pink": (245, 150, 190), "cyan": (60, 200, 210)}
SHAPES = ("circle", "square", "triangle", "star", "ring", "cross")
TEXTURES = ("plain", "striped", "checked", "dotted", "gradient")
SIZES = {"small": 0.3, "medium": 0.45, "large": 0.65}
PHRASINGS = ("a {size} {colour} {shape} on a {bg_colour} {texture} background",
             "a picture of a {colour} {shape} over a {texture} {bg_colour} pattern",
             "{size} {colour} {shape}, {bg_colour} {texture} backdrop")


def _texture(kind: str, c1, c2, s: int) -> Image.Image:
    yy, xx = np.mgrid[0:s, 0:s]
    if kind == "plain":
        mask = np.zeros((s, s), bool)
    elif kind == "striped":
        mask = (xx // max(1, s // 8)) % 2 == 0
    elif kind == "checked":
        mask = ((xx // max(1, s // 6)) + (yy // max(1, s // 6))) % 2 == 0
    elif kind == "dotted":
        step = max(2, s // 6)
        mask = ((xx % step - step / 2) ** 2 + (yy % step - step / 2) ** 2) < (step / 4) ** 2
    else:
        t = (xx / s)[..., None]
        return Image.fromarray((np.array(c1) * (1 - t) + np.array(c2) * t).astype(np.uint8))
    out = np.where(mask[..., None], np.array(c2), np.array(c1)).astype(np.uint8)
    return Image.fromarray(out)


def _shape(d: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, colour) -> None:
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "square":
        d.rectangle(box, fill=colour)
    elif shape == "ring":
        d.ellipse(box, outline=colour, width=max(1, int(r / 3)))
    elif shape == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif shape == "cross":
        w = r / 3
        d.rectangle([cx - w, cy - r, cx + w, cy + r], fill=colour)
        d.rectangle([cx - r, cy - w, cx + r, cy + w], fill=colour)
    else:  # star
        ang = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
        d.polygon(list(zip(cx + rad * np.cos(ang), cy + rad * np.sin(ang))), fill=colour)


def render_background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    names = list(COLOURS)
    colour, bg1, bg2 = (names[i] for i in rng.choice(len(names), 3, replace=False))
    shape, texture = SHAPES[rng.integers(len(SHAPES))], TEXTURES[rng.integers(len(TEXTURES))]
    size_word = list(SIZES)[rng.integers(len(SIZES))]
    s = size * 4
    img = _texture(texture, COLOURS[bg1], COLOURS[bg2], s)
    r = SIZES[size_word] * s / 2
    cx, cy = rng.uniform(r, s - r), rng.uniform(r, s - r)
    _shape(ImageDraw.Draw(img), shape, cx, cy, r, COLOURS[colour])
    x = np.asarray(img.resize((size, size), Image.LANCZOS), dtype=np.float32)
    x = np.clip(x + rng.normal(0, 3, x.shape), 0, 255).astype(np.uint8)
    phrase = PHRASINGS[rng.integers(len(PHRASINGS))]
    return x, phrase.format(size=size_word, colour=colour, shape=shape, bg_colour=bg1, texture=texture)
