"""Procedurally rendered, face-like portraits: one appearance per identity, varied photos.

An appearance fixes what identifies a person (face shape, skin, hair colour and style,
eye colour, spacing and size, brows, nose, mouth, glasses, beard, earrings); each photo
varies pose (rotation, shift), scale, lighting (brightness, contrast, colour cast), the
background and sensor noise. Drawn with PIL at 4x and downsampled, so faces stay
recognisable at 32 x 32.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SKIN = [(255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 56, 30), (255, 205, 170)]
HAIR = {"black": (20, 20, 20), "brown": (92, 60, 30), "blond": (225, 190, 100), "red": (170, 60, 20),
        "grey": (160, 160, 160), "auburn": (120, 40, 30), "platinum": (235, 230, 210)}
EYES = {"brown": (80, 50, 20), "blue": (40, 90, 200), "green": (40, 140, 60), "grey": (110, 120, 130), "hazel": (140, 110, 50)}
HAIR_STYLES = ("short", "long", "bald", "fringe", "bun", "curly")
SS = 4  # supersampling factor


def random_appearance(rng: np.random.Generator) -> dict:
    hair = list(HAIR)[rng.integers(len(HAIR))]
    eyes = list(EYES)[rng.integers(len(EYES))]
    return {
        "skin": int(rng.integers(len(SKIN))),
        "hair_colour": hair,
        "hair_style": HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        "eye_colour": eyes,
        "face_width": float(rng.uniform(0.50, 0.66)),
        "face_height": float(rng.uniform(0.66, 0.80)),
        "eye_spacing": float(rng.uniform(0.14, 0.24)),
        "eye_size": float(rng.uniform(0.035, 0.065)),
        "eye_height": float(rng.uniform(0.40, 0.48)),
        "brow": int(rng.integers(3)),
        "nose_length": float(rng.uniform(0.06, 0.14)),
        "mouth_width": float(rng.uniform(0.10, 0.24)),
        "mouth_curve": float(rng.uniform(-0.03, 0.05)),
        "glasses": bool(rng.random() < 0.25),
        "beard": bool(rng.random() < 0.2),
        "earrings": bool(rng.random() < 0.2),
        "shirt": [int(c) for c in rng.integers(30, 230, 3)],
    }


def _box(cx, cy, w, h, s):
    return [(cx - w / 2) * s, (cy - h / 2) * s, (cx + w / 2) * s, (cy + h / 2) * s]


def _hair(d: ImageDraw.ImageDraw, a: dict, s: int, fw: float, fh: float) -> None:
    col, style = HAIR[a["hair_colour"]], a["hair_style"]
    top = 0.5 - fh / 2
    if style == "bald":
        return
    if style == "long":
        d.rectangle(_box(0.5, 0.52, fw * 1.25, fh * 0.95, s), fill=col)
    if style == "bun":
        d.ellipse(_box(0.5, top - 0.03, 0.2, 0.14, s), fill=col)
    if style == "curly":
        for dx in np.linspace(-fw / 2, fw / 2, 6):
            d.ellipse(_box(0.5 + dx, top + 0.04, 0.14, 0.12, s), fill=col)
    d.chord(_box(0.5, top + fh * 0.28, fw * 1.08, fh * 0.62, s), 180, 360, fill=col)
    if style == "fringe":
        d.rectangle(_box(0.5, top + 0.1, fw * 0.9, 0.08, s), fill=col)


def _features(d: ImageDraw.ImageDraw, a: dict, s: int) -> None:
    ey, sp, es = a["eye_height"], a["eye_spacing"], a["eye_size"]
    hair = HAIR[a["hair_colour"]]
    for side in (-1, 1):
        cx = 0.5 + side * sp / 2
        d.ellipse(_box(cx, ey, es * 2.0, es * 1.3, s), fill=(250, 250, 250))
        d.ellipse(_box(cx, ey, es, es, s), fill=EYES[a["eye_colour"]])
        by = ey - es * 1.4 - 0.01 * a["brow"]
        d.line([((cx - es) * s, (by + 0.01 * (a["brow"] - 1) * side) * s), ((cx + es) * s, by * s)],
               fill=hair, width=max(1, int(s * (0.012 + 0.008 * a["brow"]))))
        if a["glasses"]:
            d.ellipse(_box(cx, ey, es * 3.0, es * 2.4, s), outline=(30, 30, 30), width=max(1, s // 2))
    nose_top, nose_len = ey + 0.04, a["nose_length"]
    d.line([(0.5 * s, nose_top * s), (0.49 * s, (nose_top + nose_len) * s), (0.52 * s, (nose_top + nose_len) * s)],
           fill=(120, 70, 50), width=max(1, s // 2))
    my, mw, mc = nose_top + nose_len + 0.07, a["mouth_width"], a["mouth_curve"]
    d.arc(_box(0.5, my - mc, mw, 0.06 + abs(mc) * 2, s), 0 if mc >= 0 else 180, 180 if mc >= 0 else 360,
          fill=(150, 40, 50), width=max(1, int(s * 0.02)))


def render_face(appearance: dict, rng: np.random.Generator, size: int) -> np.ndarray:
    """One photo of a person: ``(size, size, 3) uint8``."""
    a, s = appearance, size * SS
    bg_a, bg_b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, s)[:, None, None]
    bg = (bg_a * (1 - ramp) + bg_b * ramp).repeat(s, axis=1).astype(np.uint8)
    img = Image.fromarray(bg)
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    skin = SKIN[a["skin"]]
    fw, fh = a["face_width"], a["face_height"]
    d.rectangle(_box(0.5, 0.98, 0.9, 0.3, s), fill=tuple(a["shirt"]))  # shoulders
    d.rectangle(_box(0.5, 0.84, fw * 0.35, 0.16, s), fill=skin)  # neck
    if a["hair_style"] == "long":
        _hair(d, a, s, fw, fh)
    d.ellipse(_box(0.5, 0.5, fw, fh, s), fill=skin)
    for side in (-1, 1):
        d.ellipse(_box(0.5 + side * fw / 2, 0.5, 0.06, 0.12, s), fill=skin)
        if a["earrings"]:
            d.ellipse(_box(0.5 + side * fw / 2, 0.58, 0.03, 0.03, s), fill=(230, 200, 40))
    if a["hair_style"] != "long":
        _hair(d, a, s, fw, fh)
    if a["beard"]:
        d.chord(_box(0.5, 0.62, fw * 0.95, fh * 0.6, s), 0, 180, fill=HAIR[a["hair_colour"]])
    _features(d, a, s)
    scale = rng.uniform(0.85, 1.1)
    layer = layer.rotate(rng.uniform(-12, 12), resample=Image.BICUBIC, center=(s / 2, s / 2))
    layer = layer.resize((int(s * scale),) * 2, Image.BICUBIC)
    off = ((s - layer.size[0]) // 2 + int(rng.uniform(-0.08, 0.08) * s),
           (s - layer.size[1]) // 2 + int(rng.uniform(-0.05, 0.08) * s))
    img.paste(layer, off, layer)
    img = img.filter(ImageFilter.GaussianBlur(radius=SS * 0.3)).resize((size, size), Image.LANCZOS)
    return _photometric(np.asarray(img, dtype=np.float32), rng)


def _photometric(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lighting (brightness, contrast, colour cast) and sensor noise."""
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.75, 1.25) + mean * rng.uniform(0.75, 1.2)
    x = x * rng.uniform(0.9, 1.1, 3) + rng.normal(0, rng.uniform(2, 8), x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)
