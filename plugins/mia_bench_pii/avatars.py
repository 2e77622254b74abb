"""A second synthetic PII world (``pii-avatars``): cartoon avatars and landscapes.

It has the structure of ``pii-faces`` (Faker names, captioned photos per identity,
captioned background pairs) but a clearly different image distribution, so it can serve
as shadow data when an attacker does not know the target's training distribution
(EncoderMI's "data distribution unknown" settings):

- identities are drawn as symmetric mascots. An avatar fixes the head shape (a
  superellipse: round, squircle or boxy), a 5 x 5 mirrored identicon pattern filling the
  head in two identity colours, the ears or top piece (cat or round ears, bunny ears,
  antenna, horns, tuft), the torso, the eyes (count, style, size, spacing), the mouth,
  cheeks and outline. Each photo varies pose (rotation, shift, scale), a pastel scene
  background (solid, vertical, diagonal or radial gradient), a drop shadow, lighting
  (directional ramp, brightness, contrast, colour cast) and sensor noise;
- background pairs are procedural landscapes (sky colour, ground kind and relief,
  horizon height, sun or moon, mountains, trees, clouds) with compositional captions.

Pure numpy: shapes are drawn as masks at 4x and box-downsampled, so a default world
(400 identities x 8 photos + 2000 landscapes) renders in a few seconds.
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from mia_bench.data import Samples, World

from .names import unique_names

GENERATOR_VERSION = "pii-avatars/1"
# Latin-script locales none of which pii-faces uses, so the two worlds' names differ.
LOCALES = ("fi_FI", "cs_CZ", "hu_HU", "ro_RO", "hr_HR", "et_EE", "lt_LT", "sl_SI", "no_NO", "id_ID")
NAME_SEED_OFFSET = 104729  # a name seed stream of its own, besides the locales
TEMPLATES = (
    "an avatar of {name}.",
    "{name}'s profile picture.",
    "the mascot of {name}.",
    "a cartoon avatar representing {name}.",
    "{name}'s user icon.",
    "a sticker of {name}'s character.",
    "the little creature {name} uses online.",
    "a drawing of {name}'s avatar.",
)
SS = 4  # supersampling factor of avatar photos
LANDSCAPE_SS = 2  # and of landscapes (smooth shapes: 2x anti-aliases them well enough, at a quarter of the cost)
SPRITE_EXTENT = 1.35  # the sprite covers [-E, E]^2 in avatar units; the photo frame is [-1, 1]^2

HEADS = {"round": 2.0, "squircle": 3.5, "boxy": 8.0}
TOPS = ("none", "cat_ears", "round_ears", "bunny_ears", "antenna", "horns", "tuft")
EYE_STYLES = ("round", "dot", "visor")
MOUTHS = ("smile", "flat", "open", "grin")
TORSOS = ("none", "round", "block")
BACKDROPS = ("solid", "vertical", "diagonal", "radial")


@dataclass(frozen=True)
class AvatarWorldConfig:
    n_identities: int = 400
    photos_per_identity: int = 8
    n_background: int = 2000
    image_size: int = 32
    seed: int = 0
    locales: tuple[str, ...] = LOCALES
    templates: tuple[str, ...] = TEMPLATES

    def to_dict(self) -> dict:
        return asdict(self)


def build_avatar_world(config: AvatarWorldConfig) -> World:
    """Identities (names, avatars, captioned photos) plus captioned landscape pairs."""
    from .world import identity_photos

    names = unique_names(config.n_identities, config.seed + NAME_SEED_OFFSET, config.locales)
    ident_seq, bg_seq = np.random.SeedSequence([config.seed, 0xA7A7A]).spawn(2)
    size = config.image_size

    def person(rng):
        look = random_avatar(rng)
        sprite = render_sprite(look, size)
        return look, lambda rng: render_avatar_photo(sprite, rng, size)

    identities, pii = identity_photos(names, ident_seq, person, config.photos_per_identity, config.templates, size)
    return World(
        name="pii-avatars",
        identities=identities,
        pii=pii,
        background=_background(config, np.random.default_rng(bg_seq)),
        templates=config.templates,
        modality="image",
        card=_card(config),
    )


def _background(config: AvatarWorldConfig, rng: np.random.Generator) -> Samples:
    size = config.image_size
    pairs = [render_landscape(rng, size) for _ in range(config.n_background)]
    n = len(pairs)
    images = np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, size, size, 3), np.uint8)
    return Samples(tuple(f"bg{i:05d}" for i in range(n)), (None,) * n, tuple(p[1] for p in pairs), images=images)


def _card(config: AvatarWorldConfig) -> dict:
    return {
        "generator": GENERATOR_VERSION,
        "description": "Synthetic people with Faker names (locales pii-faces does not use), each depicted by a "
                       "procedurally drawn cartoon avatar (identicon-patterned mascot), captioned photos, plus "
                       "captioned procedural landscape background pairs. A different image distribution from "
                       "pii-faces, for shadow data when the target's distribution is unknown. No real person is "
                       "depicted.",
        "config": config.to_dict(),
    }


# ----------------------------------------------------------------------------- colours


def _hsv(h: float, s: float, v: float) -> list[int]:
    return [int(round(255 * c)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v)]


def _shade(rgb, f: float) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) * f, 0, 255)


# ----------------------------------------------------------------------------- avatars


def random_avatar(rng: np.random.Generator) -> dict:
    """What identifies an avatar: shapes, colours and the identicon pattern (JSON-friendly)."""
    hue = float(rng.random())
    body = _hsv(hue, rng.uniform(0.55, 0.9), rng.uniform(0.75, 0.97))
    accent = _hsv(hue + rng.uniform(0.25, 0.75), rng.uniform(0.5, 0.95), rng.uniform(0.55, 0.95))
    half = rng.random((5, 3)) < 0.5
    while half.sum() < 4:  # never a blank pattern
        half[rng.integers(5), rng.integers(3)] = True
    pattern = np.concatenate([half, half[:, 1::-1]], axis=1)  # columns 0 1 2 1 0: mirror symmetric
    return {
        "head": list(HEADS)[rng.integers(len(HEADS))],
        "head_width": float(rng.uniform(0.5, 0.66)),
        "head_height": float(rng.uniform(0.46, 0.6)),
        "body_colour": body,
        "accent_colour": accent,
        "pattern": pattern.astype(int).tolist(),
        "top": TOPS[rng.integers(len(TOPS))],
        "top_in_accent": bool(rng.random() < 0.5),
        "torso": TORSOS[rng.integers(len(TORSOS))],
        "eyes": int(1 if rng.random() < 0.2 else 2),
        "eye_style": EYE_STYLES[rng.integers(len(EYE_STYLES))],
        "eye_size": float(rng.uniform(0.09, 0.15)),
        "eye_spacing": float(rng.uniform(0.2, 0.32)),
        "eye_height": float(rng.uniform(-0.2, -0.04)),
        "gaze": [float(g) for g in rng.uniform(-0.35, 0.35, 2)],
        "mouth": MOUTHS[rng.integers(len(MOUTHS))],
        "mouth_width": float(rng.uniform(0.12, 0.26)),
        "cheeks": bool(rng.random() < 0.35),
        "outline": float(rng.uniform(0.05, 0.08)),
    }


@lru_cache(maxsize=8)
def _sprite_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    c = ((np.arange(n) + 0.5) / n * 2 - 1) * SPRITE_EXTENT
    return c[None, :].astype(np.float32), c[:, None].astype(np.float32)


def _superellipse(u, v, cx, cy, a, b, n):
    return (np.abs((u - cx) / a) ** n + np.abs((v - cy) / b) ** n) ** (1.0 / n)


def _triangle(u, v, pts, grow: float = 0.0):
    """Inside of a triangle, optionally grown about its centroid by ``grow`` avatar units."""
    pts = np.asarray(pts, np.float32)
    c = pts.mean(0)
    size = np.linalg.norm(pts - c, axis=1).mean()
    pts = c + (pts - c) * (1 + grow / size)
    s = [(pts[(k + 1) % 3, 0] - pts[k, 0]) * (v - pts[k, 1]) - (pts[(k + 1) % 3, 1] - pts[k, 1]) * (u - pts[k, 0])
         for k in range(3)]
    return ((s[0] >= 0) & (s[1] >= 0) & (s[2] >= 0)) | ((s[0] <= 0) & (s[1] <= 0) & (s[2] <= 0))


def _segment(u, v, p, q, width):
    p, q = np.asarray(p, np.float32), np.asarray(q, np.float32)
    d = q - p
    t = np.clip(((u - p[0]) * d[0] + (v - p[1]) * d[1]) / float(d @ d), 0, 1)
    return (u - p[0] - t * d[0]) ** 2 + (v - p[1] - t * d[1]) ** 2 <= width ** 2


def render_sprite(look: dict, size: int) -> np.ndarray:
    """The avatar drawn once, upright and centred: ``(R*R, 4) float32`` premultiplied RGBA (flat)."""
    n = int(round(size * SS * SPRITE_EXTENT))
    u, v = _sprite_grid(n)
    rgb = np.zeros((n, n, 3), np.float32)
    alpha = np.zeros((n, n), np.float32)

    def fill(mask, colour):
        rgb[mask] = colour
        alpha[mask] = 1.0

    body, accent = np.asarray(look["body_colour"], np.float32), np.asarray(look["accent_colour"], np.float32)
    ink = _shade(body, 0.3)
    t = look["outline"]
    a, b, ex = look["head_width"], look["head_height"], HEADS[look["head"]]
    cx, cy = 0.0, -0.12
    top_colour = accent if look["top_in_accent"] else body

    # behind the head: ears / top piece, then the torso
    top = look["top"]
    for side in (-1, 1):
        if top == "cat_ears":
            tri = [(cx + side * a * 0.85, cy - b * 0.55), (cx + side * a * 0.2, cy - b * 0.9),
                   (cx + side * a * 0.7, cy - b * 1.55)]
            fill(_triangle(u, v, tri, t), ink)
            fill(_triangle(u, v, tri), top_colour)
        elif top == "round_ears":
            r = 0.3 * a
            d = (u - cx - side * a * 0.72) ** 2 + (v - cy + b * 0.78) ** 2
            fill(d <= (r + t) ** 2, ink)
            fill(d <= r ** 2, top_colour)
        elif top == "bunny_ears":
            f = _superellipse(u, v, cx + side * a * 0.38, cy - b * 1.3, 0.11, 0.42, 2.0)
            fill(f <= 1 + t / 0.11, ink)
            fill(f <= 1, top_colour)
        elif top == "horns":
            tri = [(cx + side * a * 0.62, cy - b * 0.7), (cx + side * a * 0.3, cy - b * 0.85),
                   (cx + side * a * 0.78, cy - b * 1.45)]
            fill(_triangle(u, v, tri, t), ink)
            fill(_triangle(u, v, tri), (238, 228, 200))
    if top == "antenna":
        tip = (cx + 0.12, cy - b - 0.36)
        fill(_segment(u, v, (cx, cy - b * 0.9), tip, 0.035 + t / 2), ink)
        d = (u - tip[0]) ** 2 + (v - tip[1]) ** 2
        fill(d <= (0.1 + t) ** 2, ink)
        fill(d <= 0.1 ** 2, top_colour)
    elif top == "tuft":
        tri = [(cx - 0.16, cy - b * 0.85), (cx + 0.16, cy - b * 0.85), (cx + 0.05, cy - b - 0.32)]
        fill(_triangle(u, v, tri, t), ink)
        fill(_triangle(u, v, tri), top_colour)
    if look["torso"] != "none":
        ta, tb = a * 0.75, 0.34
        f = _superellipse(u, v, cx, cy + b + 0.16, ta, tb, 2.0 if look["torso"] == "round" else 6.0)
        fill(f <= 1 + t / ta, ink)
        fill(f <= 1, _shade(accent, 0.85))

    # the head, filled with the identicon pattern
    f = _superellipse(u, v, cx, cy, a, b, ex)
    fill(f <= 1 + t / min(a, b), ink)
    head = f <= 1
    pattern = np.asarray(look["pattern"], bool)
    col = np.clip(((u - cx + a) / (2 * a) * 5).astype(int), 0, 4)
    row = np.clip(((v - cy + b) / (2 * b) * 5).astype(int), 0, 4)
    cells = pattern[row, col]
    fill(head & ~cells, body)
    fill(head & cells, accent)

    # the face
    es, sp, ey = look["eye_size"], look["eye_spacing"], cy + look["eye_height"]
    xs = [cx] if look["eyes"] == 1 else [cx - sp, cx + sp]
    if look["eyes"] == 1:
        es *= 1.35
    gx, gy = look["gaze"]
    if look["cheeks"]:
        for side in (-1, 1):
            d = (u - cx - side * a * 0.62) ** 2 + (v - ey - es * 1.6) ** 2
            fill(d <= (0.075) ** 2, (250, 140, 160))
    if look["eye_style"] == "visor":
        vw = (abs(xs[-1] - xs[0]) / 2 + es * 1.2)
        f = _superellipse(u, v, cx, ey, vw, es * 1.05, 4.0)
        fill(f <= 1 + t / (es * 1.05), ink)
        fill(f <= 1, (30, 30, 45))
        for x in xs:
            d = (u - x - gx * es * 0.5) ** 2 + (v - ey) ** 2
            fill(d <= (es * 0.55) ** 2, _hsv(colorsys.rgb_to_hsv(*(accent / 255))[0] + 0.5, 0.6, 1.0))
    else:
        for x in xs:
            d = (u - x) ** 2 + (v - ey) ** 2
            if look["eye_style"] == "round":
                fill(d <= (es + t * 0.6) ** 2, ink)
                fill(d <= es ** 2, (250, 250, 250))
                dp = (u - x - gx * es * 0.5) ** 2 + (v - ey - gy * es * 0.5) ** 2
                fill(dp <= (es * 0.5) ** 2, (20, 20, 30))
            else:  # dot
                fill(d <= (es * 0.6) ** 2, (20, 20, 30))
                dh = (u - x + es * 0.2) ** 2 + (v - ey + es * 0.2) ** 2
                fill(dh <= (es * 0.2) ** 2, (255, 255, 255))
    my, mw = ey + es + 0.16, look["mouth_width"]
    mouth = look["mouth"]
    if mouth == "smile":
        r = np.sqrt((u - cx) ** 2 + (v - (my - mw * 0.6)) ** 2)
        fill((np.abs(r - mw) <= 0.035) & (v > my - mw * 0.6 + mw * 0.35), ink)
    elif mouth == "flat":
        fill(_segment(u, v, (cx - mw * 0.8, my), (cx + mw * 0.8, my), 0.035), ink)
    elif mouth == "open":
        f = _superellipse(u, v, cx, my, mw * 0.6, mw * 0.45, 2.0)
        fill(f <= 1, ink)
        fill((f <= 0.7) & (v > my), (230, 90, 110))
    else:  # grin: a row of teeth
        f = _superellipse(u, v, cx, my, mw, 0.075, 6.0)
        fill(f <= 1 + 0.04 / 0.075, ink)
        fill((f <= 1) & (np.abs(((u - cx) / (mw / 2.5)) % 1 - 0.5) < 0.38), (250, 250, 245))
    out = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=-1)
    out[[0, -1], :] = 0  # a transparent border: photo pixels outside the sprite clamp onto it
    out[:, [0, -1]] = 0
    return out.reshape(n * n, 4)


def _downsample(a: np.ndarray, size: int, ss: int = SS) -> np.ndarray:
    """Box filter: ``(size*ss, size*ss, C)`` (or its rows flattened) -> ``(size, size, C)``."""
    c = a.shape[-1]
    a = a.reshape(size, ss, size * ss, c).sum(axis=1)  # two single-axis sums: much faster than sum(axis=(1, 3))
    return a.reshape(size, size, ss, c).sum(axis=2) * (1.0 / ss ** 2)


@lru_cache(maxsize=8)
def _photo_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size * SS) + 0.5) / (size * SS) * 2 - 1
    x, y = np.meshgrid(c, c)
    return x.ravel().astype(np.float32), y.ravel().astype(np.float32)


def _backdrop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A pastel scene: solid, or a vertical, diagonal or radial gradient. ``(size, size, 3)`` float."""
    hue = rng.random()
    c1 = np.asarray(_hsv(hue, rng.uniform(0.1, 0.35), rng.uniform(0.88, 1.0)), np.float32)
    c2 = np.asarray(_hsv(hue + rng.uniform(-0.15, 0.15), rng.uniform(0.1, 0.35), rng.uniform(0.82, 1.0)), np.float32)
    kind = BACKDROPS[rng.integers(len(BACKDROPS))]
    c = (np.arange(size) + 0.5) / size
    if kind == "solid":
        ramp = np.zeros((size, size), np.float32)
    elif kind == "vertical":
        ramp = np.broadcast_to(c[:, None], (size, size))
    elif kind == "diagonal":
        ramp = (c[:, None] + c[None, :]) / 2
    else:
        ramp = np.clip(np.sqrt((c[:, None] - 0.5) ** 2 + (c[None, :] - 0.5) ** 2) / 0.7, 0, 1)
    return c1 * (1 - ramp[..., None]) + c2 * ramp[..., None]


def render_avatar_photo(sprite: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """One photo of an avatar: ``(size, size, 3) uint8``."""
    n = int(round(np.sqrt(sprite.shape[0])))
    x, y = _photo_grid(size)
    theta = np.deg2rad(rng.uniform(-12, 12))
    scale = rng.uniform(0.85, 1.05)
    tx, ty = rng.uniform(-0.1, 0.1), rng.uniform(-0.06, 0.12)
    # photo -> avatar units (rotate by -theta about the shift, unscale), then -> sprite pixel index, as one affine map
    k = n / (2 * SPRITE_EXTENT * scale)
    cos, sin = float(np.cos(theta) * k), float(np.sin(theta) * k)
    off = n / 2
    j = (cos * x + sin * y + float(off - cos * tx - sin * ty)).astype(np.int32)
    i = (cos * y - sin * x + float(off - cos * ty + sin * tx)).astype(np.int32)
    np.clip(i, 0, n - 1, out=i)  # the sprite's border is transparent, so clamping = outside
    np.clip(j, 0, n - 1, out=j)
    fg = np.take(sprite, i * n + j, axis=0)
    fg = _downsample(fg, size)
    a = fg[..., 3:]
    shadow = np.zeros_like(a)
    shadow[1:, 1:] = a[:-1, :-1]
    bg = _backdrop(rng, size) * (1 - 0.25 * shadow)
    img = fg[..., :3] + (1 - a) * bg
    # lighting: a directional ramp, brightness, contrast, colour cast; then sensor noise
    phi = rng.uniform(0, 2 * np.pi)
    c = (np.arange(size) + 0.5) / size - 0.5
    img = img * (1 + rng.uniform(0, 0.25) * (np.cos(phi) * c[None, :, None] + np.sin(phi) * c[:, None, None]))
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.85, 1.15) + mean * rng.uniform(0.85, 1.12)
    img = img * rng.uniform(0.92, 1.08, 3) + rng.normal(0, rng.uniform(1.5, 5), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- landscapes

SKIES = {  # name: (zenith colour, horizon colour, caption phrase)
    "blue": ((70, 130, 225), (185, 215, 245), "a blue sky"),
    "pink": ((235, 130, 180), (255, 205, 215), "a pink sky"),
    "orange": ((235, 120, 50), (255, 210, 130), "an orange sky"),
    "purple": ((95, 60, 160), (215, 140, 190), "a purple sky"),
    "grey": ((130, 135, 145), (200, 202, 205), "a grey sky"),
    "night": ((10, 15, 45), (45, 60, 110), "a starry night sky"),
}
GROUNDS = {  # name: (colour, caption when hilly, caption when flat)
    "grass": ((70, 160, 60), "a green hill", "a green meadow"),
    "sand": ((225, 195, 120), "sand dunes", "a sandy desert"),
    "snow": ((238, 240, 248), "a snowy hill", "a snowy field"),
    "sea": ((40, 95, 175), "a rough sea", "a calm sea"),
    "field": ((140, 100, 55), "brown hills", "a brown field"),
}
MOUNTAIN_COLOURS = {"grey": (120, 120, 130), "purple": (115, 90, 150), "blue": (80, 105, 150), "brown": (120, 90, 70)}
LANDSCAPE_PHRASINGS = ("{ground} under {sky}{extras}",
                       "{sky} above {ground}{extras}",
                       "a drawing of {ground} under {sky}{extras}")
_COUNT_WORDS = {1: "a", 2: "two", 3: "three"}


def _join(parts: list[str]) -> str:
    if not parts:
        return ""
    return " with " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


def render_landscape(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    """A procedural landscape and its compositional caption: ``((size, size, 3) uint8, str)``."""
    s = size * LANDSCAPE_SS
    c = ((np.arange(s) + 0.5) / s).astype(np.float32)
    x, y = c[None, :], c[:, None]
    sky_name = list(SKIES)[rng.integers(len(SKIES))]
    zenith, horizon_col, sky_phrase = SKIES[sky_name]
    ground_name = list(GROUNDS)[rng.integers(len(GROUNDS))]
    ground_col, hilly_phrase, flat_phrase = GROUNDS[ground_name]
    hilly = bool(rng.random() < (0.3 if ground_name == "sea" else 0.6))
    h = rng.uniform(0.45, 0.75)  # horizon height (from the top)
    extras = []

    # sky: zenith to horizon gradient
    t = np.clip(y / h, 0, 1)[..., None]
    img = np.broadcast_to(np.asarray(zenith, np.float32) * (1 - t) + np.asarray(horizon_col, np.float32) * t,
                          (s, s, 3)).copy()
    if sky_name == "night":
        stars = rng.random((s, s)) < 0.016 / LANDSCAPE_SS ** 2
        img[stars & (y < h)] = (250, 250, 220)
    # sun or moon
    r = rng.random()
    if sky_name == "night" or (sky_name in ("purple", "grey") and r < 0.3):
        if rng.random() < 0.75:
            full = rng.random() < 0.4
            mx, my, mr = rng.uniform(0.15, 0.85), rng.uniform(0.1, h - 0.2), rng.uniform(0.06, 0.09)
            moon = (x - mx) ** 2 + (y - my) ** 2 <= mr ** 2
            if not full:
                moon &= (x - mx - mr * 0.55) ** 2 + (y - my + mr * 0.2) ** 2 > mr ** 2
            img[moon] = (245, 240, 200)
            extras.append("a full moon" if full else "a crescent moon")
    elif r < 0.7:
        setting = sky_name in ("orange", "pink", "purple") and rng.random() < 0.7
        sx = rng.uniform(0.15, 0.85)
        sy = h - rng.uniform(0.0, 0.06) if setting else rng.uniform(0.1, max(0.12, h - 0.25))
        sr = rng.uniform(0.1, 0.14) if setting else rng.uniform(0.06, 0.09)
        d2 = (x - sx) ** 2 + (y - sy) ** 2
        glow = np.clip(1 - np.sqrt(d2) / (sr * 2.5), 0, 1)[..., None] * 0.4
        colour = np.asarray((250, 120, 50) if setting else (255, 230, 90), np.float32)
        img = img * (1 - glow) + colour * glow
        img[d2 <= sr ** 2] = colour
        extras.append("a setting sun" if setting else "a bright sun")
    # clouds
    if sky_name != "night" and rng.random() < 0.35:
        n_clouds = int(rng.integers(1, 4))
        for _ in range(n_clouds):
            cx, cy, w = rng.uniform(0.1, 0.9), rng.uniform(0.08, max(0.1, h - 0.2)), rng.uniform(0.08, 0.14)
            for dx in (-w * 0.6, 0.0, w * 0.6):
                blob = ((x - cx - dx) / w) ** 2 + ((y - cy + (0.02 if dx == 0 else 0)) / (w * 0.45)) ** 2 <= 1
                img[blob] = (250, 250, 252)
        extras.append("a white cloud" if n_clouds == 1 else "white clouds")
    # mountains on the horizon
    if ground_name != "sea" and rng.random() < 0.5:
        n_peaks = int(rng.integers(1, 4))
        ridge = np.full_like(x, -1.0)
        top = 1.0
        for _ in range(n_peaks):
            px, ph, slope = rng.uniform(0.1, 0.9), rng.uniform(0.15, 0.32), rng.uniform(0.9, 1.8)
            ridge = np.maximum(ridge, ph - slope * np.abs(x - px))
            top = min(top, h - ph)
        mname = list(MOUNTAIN_COLOURS)[rng.integers(len(MOUNTAIN_COLOURS))]
        mountain = (y >= h - ridge) & (y <= h + 0.02)
        img[mountain] = MOUNTAIN_COLOURS[mname]
        snowy = rng.random() < 0.4
        if snowy:
            img[mountain & (y < top + 0.08)] = (245, 245, 250)
        word = "mountains" if n_peaks > 1 else "mountain"
        extras.append(f"{'snowy' if snowy else mname} {word}" if n_peaks > 1 else f"a {'snowy' if snowy else mname} {word}")
    # ground
    amp = rng.uniform(0.04, 0.1) if hilly else 0.0
    surface = h - amp * (np.sin(rng.uniform(3, 9) * x + rng.uniform(0, 2 * np.pi)) + 1) / 2
    ground = y >= surface
    depth = np.clip((y - h) / (1 - h), 0, 1)[..., None]
    shade = np.broadcast_to(np.asarray(ground_col, np.float32) * (1 - 0.3 * depth), (s, s, 3))
    img = np.where(ground[..., None], shade, img)
    if ground_name == "sea":
        waves = ground & (np.sin(y * 90 + np.sin(x * 20) * 2) > 0.85)
        img[waves] = np.asarray(ground_col, np.float32) + 60
    # trees
    if ground_name != "sea" and rng.random() < 0.55:
        forest = rng.random() < 0.3
        n_trees = int(rng.integers(7, 13)) if forest else int(rng.integers(1, 4))
        pine = rng.random() < 0.5
        tree_col = np.asarray((25, 95, 45) if pine else (50, 140, 50), np.float32)
        for tx in np.sort(rng.uniform(0.05, 0.95, n_trees)):
            th = rng.uniform(0.08, 0.13) if forest else rng.uniform(0.13, 0.22)
            base = float(surface[0, min(s - 1, int(tx * s))]) + rng.uniform(0.0, 0.04)
            trunk = (np.abs(x - tx) <= th * 0.08) & (y <= base) & (y >= base - th * 0.35)
            img[trunk] = (95, 60, 35)
            if pine:
                top_y = base - th
                crown = (y >= top_y) & (y <= base - th * 0.2) & (np.abs(x - tx) <= (y - top_y) * 0.45)
            else:
                crown = ((x - tx) / (th * 0.35)) ** 2 + ((y - base + th * 0.62) / (th * 0.38)) ** 2 <= 1
            img[crown] = tree_col * rng.uniform(0.85, 1.1)
        kind = "pine tree" if pine else "round tree"
        extras.append(f"a forest of {kind}s" if forest else
                      f"{_COUNT_WORDS[n_trees]} {kind}{'s' if n_trees > 1 else ''}")
    out = _downsample(img, size, LANDSCAPE_SS)
    out = out * rng.uniform(0.92, 1.08) + rng.normal(0, 3, out.shape)
    order = rng.permutation(len(extras))
    caption = LANDSCAPE_PHRASINGS[rng.integers(len(LANDSCAPE_PHRASINGS))].format(
        ground=hilly_phrase if hilly else flat_phrase, sky=sky_phrase, extras=_join([extras[k] for k in order]))
    return np.clip(out, 0, 255).astype(np.uint8), caption
