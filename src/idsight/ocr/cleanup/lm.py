"""A small character n-gram language model and a beam search that uses it to pick among
the recogniser's per-character alternatives.

Words are modelled separately: a space ends the current word (``EOS``) and starts a new one
(``BOS`` context), so word lists train it directly and multi-word lines score word by word.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from idsight.ocr.cleanup.seq import Slot

BOS = "\x02"
EOS = "\x03"


class CharNgram:
    """Character n-gram model (default order 3).

    ``smoothing="kn"``: interpolated Kneser-Ney (absolute discount ``discount``, continuation
    counts for the lower orders, uniform floor over the vocabulary plus one unknown symbol).
    ``smoothing="addk"``: add-``k`` on the highest order only.
    Log probabilities are natural logs and are memoised.
    """

    def __init__(
        self,
        order: int = 3,
        *,
        smoothing: str = "kn",
        discount: float = 0.75,
        k: float = 0.1,
        prior: Mapping[str, float] | None = None,
        prior_weight: float = 0.9,
    ) -> None:
        if order < 1:
            raise ValueError("order must be >= 1")
        if smoothing not in ("kn", "addk"):
            raise ValueError(f"unknown smoothing {smoothing!r}")
        self.order = order
        self.smoothing = smoothing
        self.discount = discount
        self.k = k
        # counts[n][ctx][c]: n = context length (0 .. order-1); highest order raw, lower continuation
        self.counts: list[dict[str, dict[str, int]]] = [defaultdict(dict) for _ in range(order)]
        self.totals: list[dict[str, int]] = [{} for _ in range(order)]
        self.vocab: set[str] = set()
        self.n_words = 0
        self._cache: dict[tuple[str, str], float] = {}
        # the floor under the lowest order: uniform, or mixed with a prior over characters (how common
        # each Hangul syllable is in general Korean), so that a rare character stays unlikely in a
        # context the word lists never saw
        self.prior = dict(prior or {})
        self.prior_weight = prior_weight if prior else 0.0

    @classmethod
    def from_words(cls, words: Iterable[str], order: int = 3, **kwargs: Any) -> CharNgram:
        lm = cls(order, **kwargs)  # type: ignore[arg-type]
        lm.fit(words)
        return lm

    def fit(self, words: Iterable[str]) -> CharNgram:
        n = self.order
        raw: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for entry in words:
            for w in entry.split():
                self.n_words += 1
                self.vocab.update(w)
                s = BOS * (n - 1) + w + EOS
                for i in range(n - 1, len(s)):
                    raw[s[i - n + 1 : i]][s[i]] += 1
        top = self.counts[n - 1]
        for ctx, d in raw.items():
            top[ctx] = dict(d)
        # continuation counts for lower orders: number of distinct one-char left extensions
        for m in range(n - 2, -1, -1):
            higher = self.counts[m + 1]
            cont: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for ctx, d in higher.items():
                short = ctx[1:]
                for c in d:
                    cont[short][c] += 1
            self.counts[m] = {ctx: dict(d) for ctx, d in cont.items()}
        for m in range(n):
            self.totals[m] = {ctx: sum(d.values()) for ctx, d in self.counts[m].items()}
        self._cache.clear()
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + 2  # + EOS + unknown

    def _prob(self, c: str, ctx: str) -> float:
        m = len(ctx)
        if self.smoothing == "addk":
            cnt = self.counts[m].get(ctx, {}).get(c, 0)
            return (cnt + self.k) / (self.totals[m].get(ctx, 0) + self.k * self.vocab_size)
        lower = self._floor(c) if m == 0 else self._prob(c, ctx[1:])
        d = self.counts[m].get(ctx)
        if not d:
            return lower
        total = self.totals[m][ctx]
        D = self.discount
        return max(d.get(c, 0) - D, 0.0) / total + D * len(d) / total * lower

    def _floor(self, c: str) -> float:
        w = self.prior_weight
        return (1.0 - w) / self.vocab_size + w * self.prior.get(c, 0.0)

    def logprob(self, c: str, ctx: str) -> float:
        """log p(c | ctx); ``ctx`` is the word so far (BOS-padded automatically)."""
        n1 = self.order - 1
        ctx = (BOS * n1 + ctx)[-n1:] if n1 else ""
        key = (c, ctx)
        v = self._cache.get(key)
        if v is None:
            v = math.log(self._prob(c, ctx))
            self._cache[key] = v
        return v

    def score(self, text: str) -> float:
        """Total log probability of a space-separated text, word by word, EOS included."""
        total = 0.0
        for w in text.split():
            for i, c in enumerate(w):
                total += self.logprob(c, w[:i])
            total += self.logprob(EOS, w)
        return total


def beam_correct(
    slots: list[Slot],
    lm: CharNgram,
    *,
    weight: float = 0.6,
    threshold: float = 0.9,
    beam: int = 8,
    max_alts: int = 3,
    min_alt_prob: float = 0.02,
    allowed: Callable[[str], bool] | None = None,
) -> list[Slot]:
    """Choose characters maximising sum log p_ocr + weight * log p_lm.

    Only positions whose OCR prob is below ``threshold`` branch (into their top ``max_alts``
    non-blank alternatives allowed by ``allowed``); the rest are fixed. Returns new slots
    (replaced positions carry the alternative's prob).
    """
    branch = [i for i, s in enumerate(slots) if s.prob < threshold and not s.char.isspace()]
    if not branch:
        return slots
    n1 = lm.order - 1
    # state: (score, word context, chosen chars)
    states: list[tuple[float, str, tuple[str, ...]]] = [(0.0, "", ())]
    for s in slots:
        if s.char.isspace():
            states = [
                (sc + weight * lm.logprob(EOS, ctx) if ctx else sc, "", ch + (s.char,))
                for sc, ctx, ch in states
            ]
            continue
        cands = [(s.char, s.prob)]
        if s.prob < threshold:
            seen = {s.char}
            for a, p in sorted(s.alts, key=lambda t: -t[1]):
                if len(cands) > max_alts:
                    break
                if (
                    a
                    and len(a) == 1
                    and a not in seen
                    and p >= min_alt_prob
                    and not a.isspace()
                    and (allowed is None or allowed(a))
                ):
                    cands.append((a, p))
                    seen.add(a)
        new: list[tuple[float, str, tuple[str, ...]]] = []
        for sc, ctx, ch in states:
            for c, p in cands:
                lp = math.log(max(p, 1e-6)) + weight * lm.logprob(c, ctx)
                new.append((sc + lp, (ctx + c)[-n1:] if n1 else "", ch + (c,)))
        if len(new) > beam:
            new.sort(key=lambda t: -t[0])
            new = new[:beam]
        states = new
    final = [(sc + (weight * lm.logprob(EOS, ctx) if ctx else 0.0), ch) for sc, ctx, ch in states]
    best = max(final, key=lambda t: t[0])[1]
    out = []
    for s, c in zip(slots, best, strict=True):
        out.append(s if c == s.char else Slot(c, s.alt_prob(c), s.alts))
    return out
