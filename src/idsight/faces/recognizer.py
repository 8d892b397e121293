"""A trained visible + infrared face model as a one-file artifact, and matching with it.

``idsight train configs/faces_visir.yaml`` writes the artifact (model ``vis_ir_facenet``): both branches
and the identity head in one file, the architecture (backbone, embedding size, input size) in its
header, with the training config and provenance. :func:`load_face_model` rebuilds it without any other
file. :func:`match` scores two faces (cosine of their embeddings, each in its own spectrum) and decides
at a threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from idsight.errors import BadModelError
from idsight.models.faces import VisIRFaceNet


def load_face_model(path: str | Path) -> VisIRFaceNet:
    from idsight.artifact import load_artifact
    from idsight.registry import MODELS

    state, meta = load_artifact(path)
    arch = meta.get("arch")
    if not isinstance(arch, dict) or arch.get("name") != "vis_ir_facenet":
        raise BadModelError(f"not a visible + infrared face model (model {arch!r:.80})", path=path)
    import idsight.models  # noqa: F401  (registers the builders)

    try:
        net = MODELS.build("vis_ir_facenet", **{**dict(arch.get("kwargs") or {}), "pretrained": None})
        net.load_state_dict(state)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise BadModelError(
            f"weights do not fit the network ({str(err).splitlines()[0][:200]})", path=path
        ) from None
    net.eval()
    net.meta = meta  # type: ignore[assignment]
    return net  # type: ignore[no-any-return]


@torch.inference_mode()
def match(
    net: VisIRFaceNet,
    reference: np.ndarray,
    live: np.ndarray,
    *,
    reference_spectrum: str = "vis",
    live_spectrum: str = "vis",
) -> float:
    """Cosine similarity of two aligned RGB faces, each embedded by the branch of its spectrum."""
    from idsight.data.faces import face_tensor

    a = net.embed(face_tensor(reference, net.input_size)[None], spectrum=reference_spectrum)
    b = net.embed(face_tensor(live, net.input_size)[None], spectrum=live_spectrum)
    return float((a * b).sum())


PAIRINGS = ("vis-vis", "nir-nir", "nir-vis")


def calibrate(
    vis: np.ndarray, nir: np.ndarray, labels: np.ndarray, *, fars: tuple[float, ...] = (1e-2, 1e-3)
) -> dict[str, dict[str, float]]:
    """Thresholds at each FAR for each pairing (``nir-vis``: an infrared probe against a visible
    reference), from normalised embeddings of several identities; every cross pair is an impostor."""
    from idsight.faces.verify import tar_at_far

    if len(np.unique(labels)) < 2:
        raise ValueError("calibration needs faces of at least 2 identities")
    out: dict[str, dict[str, float]] = {}
    for pairing, (a, b) in zip(PAIRINGS, ((vis, vis), (nir, nir), (nir, vis)), strict=True):
        scores = a @ b.T
        same = labels[:, None] == labels[None, :]
        keep = ~np.eye(len(labels), dtype=bool) if a is b else np.ones_like(same)
        genuine, impostor = scores[same & keep], scores[~same]
        out[pairing] = {f"{far:g}": round(tar_at_far(genuine, impostor, far)[1], 5) for far in fars}
    return out


def write_calibration(path: str | Path, calibration: dict[str, dict[str, float]], source: str) -> None:
    """Store the thresholds in the artifact's header (the weights are rewritten unchanged)."""
    from idsight.artifact import load_artifact, save_artifact

    state, meta = load_artifact(path)
    meta = {**meta, "calibration": {"thresholds": calibration, "source": source}}
    save_artifact(path, state, meta, dtype=str(meta.pop("storage_dtype", "float16")))


def threshold(net: VisIRFaceNet, pairing: str, far: float, *, path: object = None) -> float:
    """The stored threshold of ``pairing`` at ``far``; BadModelError when the model was not calibrated."""
    calib = (getattr(net, "meta", {}) or {}).get("calibration") or {}
    table = (calib.get("thresholds") or {}).get(pairing) or {}
    if f"{far:g}" not in table:
        known = ", ".join(table) or "none"
        raise BadModelError(
            f"no threshold for {pairing} at FAR {far:g} (calibrated: {known}); run idsight faces calibrate",
            path=path,
        )
    return float(table[f"{far:g}"])


SPECTRA = ("vis", "nir")
SEVERAL = ("largest", "refuse")


class FaceVerifier:
    """Set up once (the face model, its calibrated thresholds, the face aligner), then
    ``verify(reference, live)`` per pair: a card photo or a face image against a live visible or
    infrared face, scored by cosine and decided at the threshold stored for ``far``."""

    def __init__(self, model: str | Path, *, aligner: str = "dlib") -> None:
        self.path = Path(model)
        self.net = load_face_model(model)
        self.aligner_name = aligner
        self._aligner: Any = None

    @property
    def aligner(self) -> Any:
        if self._aligner is None:  # dlib loads its models on first use only
            from idsight.faces.align import FaceAligner

            self._aligner = FaceAligner(self.aligner_name)
        return self._aligner

    def verify(
        self,
        reference: np.ndarray,
        live: np.ndarray,
        *,
        spectrum: str = "vis",
        far: float = 1e-3,
        reference_is_face: bool = False,
        several: str = "largest",
        aligned: bool = False,
        names: tuple[str, str] = ("reference", "live"),
    ) -> dict[str, Any]:
        from idsight.errors import IdsightError
        from idsight.faces.align import card_face

        if spectrum not in SPECTRA:
            raise IdsightError(f"the live spectrum must be vis or nir, not {spectrum!r}")
        if several not in SEVERAL:
            raise IdsightError(f"several must be largest or refuse, not {several!r}")
        pairing = "vis-vis" if spectrum == "vis" else "nir-vis"
        thr = threshold(self.net, pairing, far, path=self.path)
        if not aligned:
            ref_name, live_name = names
            reference = (
                self.aligner.best(reference, path=ref_name)
                if reference_is_face
                else card_face(reference, self.aligner, path=ref_name)
            )
            live = self.aligner.best(live, path=live_name, several=several)
        score = match(self.net, reference, live, reference_spectrum="vis", live_spectrum=spectrum)
        return {
            "score": round(score, 4),
            "threshold": thr,
            "far": far,
            "pairing": pairing,
            "decision": "match" if score > thr else "no match",
        }
