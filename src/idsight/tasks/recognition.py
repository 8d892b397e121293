"""Line recognition with CTC (optionally distilled from a teacher's logits)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.registry import TASKS
from idsight.tasks.losses import kd_kl, mean_over_chunks, select_part


@TASKS.register("ctc_recognition")
class CTCRecognition:
    """``task(model, batch) -> {"loss", "ctc", ["kd"], "preds", "logits"}``.

    ``batch``: ``image`` (B,3,32,W); ``targets`` concatenated int64 label indices (1..C-1);
    ``target_lengths`` (B,); optional ``input_lengths`` (B,) valid timesteps (unpadded width // 4,
    default: all T); optional ``teacher_logits`` (B,T,C) used when ``kd_weight > 0``; optional
    ``labelled`` (B,) bool: rows without a label (target length 0) add no CTC term, only the KD term.
    ``loss = ctc_weight * ctc + kd_weight * kd``. ``preds`` is the per-timestep argmax (B,T).

    ``kd = kd_kl_weight * kd_kl + kd_sequence_weight * kd_seq``: ``kd_kl`` is the per-timestep KL at
    ``kd_temperature``; ``kd_seq`` (sequence-level distillation, Kim & Rush 2016) is CTC against the
    teacher's own greedy transcription, on the rows without a label (a person's reading overrides the
    teacher's). Per-timestep KL alone lets a small student put its character spikes where the
    teacher's mass is split over two frames, where blank then wins: characters drop out.

    With ``kd_trust_labels``, the KL also leaves out each labelled line whose teacher transcription
    differs from its label: where a person (or the generator) says the teacher is wrong, the student
    learns the label alone, not the teacher's mistake as well.

    With ``kd_min_confidence`` above 0, a line nobody labelled whose teacher reading is doubtful
    (:func:`teacher_confidence` below it) adds no KD term at all, neither KL nor sequence-level:
    on an unfamiliar domain the teacher's unsure readings are where its mistakes are.
    """

    part = "recognizer"

    def __init__(
        self,
        *,
        blank: int = 0,
        zero_infinity: bool = True,
        ctc_weight: float = 1.0,
        kd_weight: float = 0.0,
        kd_temperature: float = 2.0,
        kd_sequence_weight: float = 0.0,
        kd_kl_weight: float = 1.0,
        kd_trust_labels: bool = False,
        kd_min_confidence: float = 0.0,
    ) -> None:
        self.blank = blank
        self.zero_infinity = zero_infinity
        self.ctc_weight = ctc_weight
        self.kd_weight = kd_weight
        self.kd_temperature = kd_temperature
        self.kd_sequence_weight = kd_sequence_weight
        self.kd_kl_weight = kd_kl_weight
        self.kd_trust_labels = kd_trust_labels
        self.kd_min_confidence = kd_min_confidence

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        """One batch, or ``{"chunks": [batch, ...]}``: width buckets padded separately, so short
        lines are not padded to the longest; the losses are averaged weighted by line count."""
        if "chunks" not in batch:
            return self._one(model, batch)
        outs = [self._one(model, c) for c in batch["chunks"]]
        return mean_over_chunks(outs, [float(len(c["target_lengths"])) for c in batch["chunks"]])

    def _one(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        logits = select_part(model, self.part)(batch["image"])["logits"].float()  # (B, T, C)
        b, t, _ = logits.shape
        il = batch.get("input_lengths")
        if il is None:
            il = torch.full((b,), t, dtype=torch.long)
        il = torch.as_tensor(il, dtype=torch.long).clamp(1, t).cpu()
        tl = torch.as_tensor(batch["target_lengths"], dtype=torch.long).cpu()
        targets = torch.as_tensor(batch["targets"], dtype=torch.long)
        log_probs = logits.log_softmax(-1).transpose(0, 1)  # (T, B, C)
        labelled = batch.get("labelled")
        labelled = tl > 0 if labelled is None else torch.as_tensor(labelled, dtype=torch.bool).cpu()
        ctc = self._mean_ctc(log_probs, targets, il, tl, labelled)
        out = {"ctc": ctc}
        loss = self.ctc_weight * ctc
        teacher = batch.get("teacher_logits")
        if self.kd_weight > 0 and teacher is not None:
            mask = torch.arange(t)[None, :] < il[:, None]
            unread = ~labelled
            if self.kd_min_confidence > 0:
                doubtful = unread & (
                    teacher_confidence(teacher, il, blank=self.blank) < self.kd_min_confidence
                )
                mask &= ~doubtful[:, None]
                unread = unread & ~doubtful
                out["kd_doubtful"] = doubtful.float().mean()
            read = None  # the teacher's greedy transcriptions, decoded once for both uses below
            if self.kd_trust_labels or (self.kd_sequence_weight > 0 and bool(unread.any())):
                read = greedy_targets(teacher, il, blank=self.blank)
            if self.kd_trust_labels:
                assert read is not None
                wrong = labelled & ~teacher_reads(read, targets, tl)
                mask &= ~wrong[:, None]
                out["kd_skipped"] = wrong.float().mean()
            mask = mask.to(logits.device)
            teacher = teacher.to(logits.device)
            out["kd_kl"] = kd_kl(logits, teacher, temperature=self.kd_temperature, mask=mask)
            kd = self.kd_kl_weight * out["kd_kl"]
            if self.kd_sequence_weight > 0:
                out["kd_seq"] = self._sequence_kd(log_probs, read, il, unread)
                kd = kd + self.kd_sequence_weight * out["kd_seq"]
            out["kd"] = kd
            loss = loss + self.kd_weight * kd
        out.update(loss=loss, preds=logits.detach().argmax(-1), logits=logits)
        return out

    def _sequence_kd(
        self, log_probs: Tensor, read: tuple[Tensor, Tensor] | None, il: Tensor, rows: Tensor
    ) -> Tensor:
        """CTC of the student (``log_probs`` (T,B,C)) against the teacher's greedy transcriptions."""
        if not bool(rows.any()):
            return log_probs.sum() * 0.0
        assert read is not None
        targets, lengths = read
        return self._mean_ctc(log_probs, targets, il, lengths, rows)

    def _mean_ctc(self, log_probs: Tensor, targets: Tensor, il: Tensor, tl: Tensor, rows: Tensor) -> Tensor:
        """CTC "mean" reduction over the ``rows`` only: each line's loss over its target length, then
        the mean over those lines (0 when no row counts)."""
        if not bool(rows.any()):
            return log_probs.sum() * 0.0
        per_line = F.ctc_loss(
            log_probs,
            targets.to(log_probs.device),
            il,
            tl,
            blank=self.blank,
            reduction="none",
            zero_infinity=self.zero_infinity,
        )
        return (per_line / tl.clamp_min(1).to(per_line.device))[rows.to(per_line.device)].mean()


def teacher_reads(read: tuple[Tensor, Tensor], targets: Tensor, tl: Tensor) -> Tensor:
    """(B,) bool: whether the teacher's greedy transcription of each line (``read``, from
    :func:`greedy_targets`) equals its target (``targets`` concatenated, ``tl`` the per-line lengths,
    as ``F.ctc_loss`` takes them)."""
    got, lengths = read
    got_rows = torch.split(got, lengths.tolist())
    want_rows = torch.split(targets.detach().cpu()[: int(tl.sum())], tl.tolist())
    return torch.tensor(
        [torch.equal(a, b) for a, b in zip(got_rows, want_rows, strict=True)], dtype=torch.bool
    )


def teacher_confidence(logits: Tensor, lengths: Tensor, *, blank: int = 0) -> Tensor:
    """(B,) how sure the teacher is of its best-path reading of each row: the lowest softmax
    probability among the characters it emits (within ``lengths[b]`` steps); 0 for a row where it
    reads nothing."""
    probs, best = logits.detach().float().softmax(-1).max(-1)
    probs, best = probs.cpu(), best.cpu()
    emitted = _emitted(best, lengths, blank)
    low = torch.where(emitted, probs, torch.ones_like(probs)).min(1).values
    return torch.where(emitted.any(1), low, torch.zeros_like(low))


def greedy_targets(logits: Tensor, lengths: Tensor, *, blank: int = 0) -> tuple[Tensor, Tensor]:
    """Best-path CTC decoding of (B,T,C) ``logits`` over the first ``lengths[b]`` steps of each row:
    the concatenated label indices and each row's label count (the form ``F.ctc_loss`` takes)."""
    best = logits.detach().argmax(-1).cpu()  # (B, T)
    keep = _emitted(best, lengths, blank)
    return best[keep], keep.sum(1)


def _emitted(best: Tensor, lengths: Tensor, blank: int) -> Tensor:
    """(B, T) bool: the steps of a best path ``best`` (B, T) that emit a character (not blank, not a
    repeat of the step before), within each row's ``lengths``."""
    b, t = best.shape
    prev = torch.cat([torch.full((b, 1), blank, dtype=best.dtype), best[:, :-1]], dim=1)
    return (best != blank) & (best != prev) & (torch.arange(t)[None, :] < lengths.cpu()[:, None])
