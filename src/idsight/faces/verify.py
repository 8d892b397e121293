"""Face verification and identification metrics, and the embeddings they are computed on.

``tar_at_far(genuine, impostor, far)``: the share of genuine pairs accepted at the threshold that
accepts at most ``far`` of the impostor pairs (accept when the score is strictly above it).
``roc`` gives the whole curve and its AUC; ``rank1`` the share of probes whose nearest identity
template (the normalised mean of its gallery embeddings) is their own. ``cross_spectral_report``
scores probes of one spectrum against a gallery of another (e.g. infrared live faces against
visible card photos), with every gallery x probe pair (N x M scores: use it on evaluation sets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> tuple[float, float]:
    """``(TAR, threshold)`` at ``far`` (see the module docstring)."""
    imp = np.sort(np.asarray(impostor, np.float64))[::-1]
    if imp.size == 0 or np.asarray(genuine).size == 0:
        raise ValueError("need genuine and impostor scores")
    k = int(np.floor(far * imp.size + 1e-9))  # impostors that may be accepted
    threshold = float(imp[k]) if k < imp.size else float(imp[-1]) - 1e-12
    return float(np.mean(np.asarray(genuine) > threshold)), threshold


def roc(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, Any]:
    """False and true accept rates at every threshold, and the area under the curve."""
    scores = np.concatenate([genuine, impostor]).astype(np.float64)
    is_gen = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    order = np.argsort(-scores, kind="stable")
    tpr = np.concatenate([[0.0], np.cumsum(is_gen[order]) / max(1, len(genuine))])
    fpr = np.concatenate([[0.0], np.cumsum(1 - is_gen[order]) / max(1, len(impostor))])
    auc = float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))
    return {"fpr": fpr, "tpr": tpr, "auc": auc}


def rank1(
    gallery: np.ndarray, gallery_labels: np.ndarray, probe: np.ndarray, probe_labels: np.ndarray
) -> float:
    """Identification: each probe's nearest identity template (cosine) is its own."""
    ids = np.unique(gallery_labels)
    templates = np.stack([gallery[gallery_labels == i].mean(0) for i in ids])
    templates /= np.linalg.norm(templates, axis=1, keepdims=True).clip(1e-12)
    nearest = ids[np.argmax(probe @ templates.T, axis=1)]
    return float(np.mean(nearest == probe_labels))


def cross_spectral_report(
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    probe: np.ndarray,
    probe_labels: np.ndarray,
    *,
    fars: Sequence[float] = (1e-1, 1e-2, 1e-3),
) -> dict[str, Any]:
    """TAR at each FAR (with its threshold), AUC and rank-1 of normalised embeddings."""
    scores = probe @ gallery.T
    same = probe_labels[:, None] == gallery_labels[None, :]
    genuine, impostor = scores[same], scores[~same]
    out: dict[str, Any] = {"genuine_pairs": int(genuine.size), "impostor_pairs": int(impostor.size)}
    for far in fars:
        tar, thr = tar_at_far(genuine, impostor, far)
        out[f"tar@far={far:g}"] = round(tar, 4)
        out[f"threshold@far={far:g}"] = round(thr, 4)
    out["auc"] = round(roc(genuine, impostor)["auc"], 4)
    out["rank1"] = round(rank1(gallery, gallery_labels, probe, probe_labels), 4)
    return out


@torch.inference_mode()
def embed_pairs(
    model: Any, data: Dataset, *, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised visible and infrared embeddings and labels of a paired data set."""
    model.eval()
    vis, nir, labels = [], [], []
    for batch in DataLoader(data, batch_size=batch_size):
        vis.append(model.embed(batch["vis"], spectrum="vis").numpy())
        nir.append(model.embed(batch["nir"], spectrum="nir").numpy())
        labels.append(batch["label"].numpy())
    return np.concatenate(vis), np.concatenate(nir), np.concatenate(labels)


@torch.inference_mode()
def embed_dataset(
    model: Any, data: Dataset, *, spectrum: str, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised embeddings (by the branch of ``spectrum``) and labels of a data set of ``image`` items."""
    model.eval()
    emb, labels = [], []
    for batch in DataLoader(data, batch_size=batch_size):
        emb.append(model.embed(batch["image"], spectrum=spectrum).numpy())
        labels.append(batch["label"].numpy())
    return np.concatenate(emb), np.concatenate(labels)
