"""Generated face data from the real faces that ship offline, with simulated near-infrared views.

**Identities.** scikit-image ships 100 real face crops (``lfw_subset``, 25x25 grey) and one colour
portrait (``astronaut``). No photo shows the same person twice, so each source photo becomes a
pseudo-identity: every view of it is that photo under strong, realistic variation (:func:`vary`):
a pose warp (perspective, as a head turned a little), a crop and scale jitter, directional lighting
and gamma, blur, an occluding band or patch, and JPEG compression. Identities are split by source
photo (:func:`identity_split`), so held-out identities are whole photos that no training saw, never
augmentations of training photos.

**Near-infrared** (:func:`simulate_nir`), with a documented model of what an active NIR camera sees:

* a spectral response unlike RGB: one channel, mostly the red response (skin reflects strongly
  around 850 nm), little blue;
* active-illumination falloff: the LED beside the lens lights the centre most, brightness falling
  with the square of the distance from the light's axis;
* flattened skin texture: NIR penetrates skin, so fine texture and blemishes are smoothed
  (an edge-preserving filter);
* dark pupils: the pupil absorbs NIR (off-axis illumination), drawn at the source's eye positions;
* sensor noise: shot noise growing with brightness plus read noise.

The numbers are grouped in :data:`NIR_SETTINGS`: ``train`` and ``heldout`` use disjoint ranges
(channel weights, falloff, smoothing, noise), so a model can be scored on infrared made with settings
that training never used. Everything generated is labelled as generated wherever it is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = 112  # aligned face side (the InsightFace convention)


@dataclass(frozen=True)
class NIRSetting:
    red: tuple[float, float]  # weight of R in the NIR response (G takes most of the rest)
    blue: tuple[float, float]
    falloff: tuple[float, float]  # k in 1 / (1 + k r^2), r in half-sides from the light's axis
    smooth: tuple[float, float]  # bilateral filter sigma (colour, in levels)
    noise: tuple[float, float]  # read-noise std, in levels
    gain: tuple[float, float]  # exposure


NIR_SETTINGS: dict[str, NIRSetting] = {
    "train": NIRSetting(
        red=(0.55, 0.7), blue=(0.0, 0.08), falloff=(0.2, 0.6), smooth=(20, 40), noise=(2, 5), gain=(1.0, 1.3)
    ),
    "heldout": NIRSetting(
        red=(0.75, 0.9),
        blue=(0.1, 0.15),
        falloff=(0.7, 1.1),
        smooth=(45, 60),
        noise=(6, 9),
        gain=(0.75, 0.95),
    ),
}


@dataclass(frozen=True)
class SourceFace:
    name: str
    rgb: np.ndarray  # (SIZE, SIZE, 3) uint8
    eyes: tuple[tuple[float, float], tuple[float, float]]  # (x, y) as fractions of the side


def source_faces() -> list[SourceFace]:
    """The 101 real faces: ``lfw_subset``'s 100 (grey, tight crops) and ``astronaut``'s (colour)."""
    from skimage import data

    faces = []
    lfw = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    for i, grey in enumerate(lfw):
        g = cv2.resize((grey * 255).astype(np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        faces.append(
            SourceFace(f"lfw{i:03d}", np.repeat(g[..., None], 3, axis=2), ((0.30, 0.36), (0.70, 0.36)))
        )
    astro = cv2.resize(data.astronaut()[30:200, 140:310], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    faces.append(SourceFace("astronaut", np.ascontiguousarray(astro), ((0.38, 0.47), (0.62, 0.47))))
    return faces


def identity_split(
    faces: list[SourceFace], *, heldout: int = 21
) -> tuple[list[SourceFace], list[SourceFace]]:
    """Train and held-out identities, by whole source photo: the last ``heldout`` photos (the colour
    astronaut among them) are held out."""
    return faces[:-heldout], faces[-heldout:]


def vary(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One view of a pseudo-identity: pose warp, crop jitter, lighting, blur, occlusion, JPEG."""
    s = face.shape[0]
    # pose: a perspective warp as a head turned a little (one side nearer), plus roll and scale
    yaw = rng.uniform(-0.12, 0.12) * s
    pitch = rng.uniform(-0.06, 0.06) * s
    src = np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float32)
    dst = np.array(
        [
            [max(0, yaw), max(0, pitch)],
            [s - max(0, -yaw), max(0, -pitch)],
            [s - max(0, -yaw), s],
            [max(0, yaw), s],
        ],
        np.float32,
    )
    m = cv2.getPerspectiveTransform(src, dst)
    rot = cv2.getRotationMatrix2D(
        (s / 2 + rng.uniform(-4, 4), s / 2 + rng.uniform(-4, 4)), rng.uniform(-10, 10), rng.uniform(0.9, 1.1)
    )
    m = np.vstack([rot, [0, 0, 1]]) @ m
    img = cv2.warpPerspective(face, m, (s, s), borderMode=cv2.BORDER_REFLECT101).astype(np.float32)
    # directional light and gamma
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0.1, 0.5) * (np.cos(angle) * xx + np.sin(angle) * yy) * 2
    img = img * light[..., None] * rng.uniform(0.7, 1.2)
    img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.5:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.random() < 0.35:  # an occluder: a band (glasses, a mask) or a patch (a hand)
        shade = float(rng.uniform(0, 255))
        if rng.random() < 0.5:
            y0 = int(rng.uniform(0.3, 0.7) * s)
            img[y0 : y0 + int(0.12 * s)] = shade
        else:
            x0, y0 = (int(v) for v in rng.uniform(0, 0.75, 2) * s)
            img[y0 : y0 + int(0.25 * s), x0 : x0 + int(0.25 * s)] = shade
    out = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
    return np.asarray(decoded) if decoded is not None else out


def simulate_nir(
    rgb: np.ndarray,
    rng: np.random.Generator,
    *,
    setting: str = "train",
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> np.ndarray:
    """A near-infrared view (grey, replicated to 3 channels) of an RGB face; see the module docstring."""
    if setting not in NIR_SETTINGS:
        raise ValueError(f"unknown NIR setting {setting!r} (known: {', '.join(NIR_SETTINGS)})")
    p = NIR_SETTINGS[setting]
    s = rgb.shape[0]
    red, blue = rng.uniform(*p.red), rng.uniform(*p.blue)
    f = rgb.astype(np.float32)
    grey = red * f[..., 0] + (1 - red - blue) * f[..., 1] + blue * f[..., 2]
    grey = cv2.bilateralFilter(grey, 7, rng.uniform(*p.smooth), 5)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    cx, cy = s / 2 + rng.uniform(-0.1, 0.1) * s, s / 2 + rng.uniform(-0.1, 0.1) * s
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (s / 2) ** 2
    grey = grey * rng.uniform(*p.gain) / (1 + rng.uniform(*p.falloff) * r2)
    pupils = np.zeros((s, s), np.float32)
    for ex, ey in eyes or ():
        cv2.circle(pupils, (round(ex * s), round(ey * s)), max(1, round(0.018 * s)), 1.0, -1)
    grey = grey * (1 - 0.75 * cv2.GaussianBlur(pupils, (0, 0), 0.8))
    grey = grey + rng.normal(0, 1, grey.shape) * np.sqrt(
        np.clip(grey, 0, None) * 0.05 + rng.uniform(*p.noise) ** 2
    )
    g = np.clip(grey, 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def write_face_pairs(
    out: str | Path,
    faces: list[SourceFace],
    *,
    views: int,
    seed: int,
    nir_setting: str = "train",
    spectra: tuple[str, ...] = ("vis", "nir"),
) -> Path:
    """``out/<identity>/{vis,nir}/<k>.png``: ``views`` varied views per identity and spectrum (the
    layout :class:`idsight.data.faces.FacePairs` reads). A NIR view is the source simulated in NIR, then
    varied like a visible one."""
    root = Path(out)
    for i, face in enumerate(faces):
        rng = np.random.default_rng([seed, i])
        for spectrum in spectra:
            folder = root / face.name / spectrum
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(views):
                src = face.rgb
                if spectrum == "nir":  # simulated on the aligned source, where the eyes are known
                    src = simulate_nir(src, rng, setting=nir_setting, eyes=face.eyes)
                img = vary(src, rng)
                cv2.imwrite(str(folder / f"{k:03d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root
