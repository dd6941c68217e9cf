"""Error rates with honest uncertainty, for the face benchmarks: thresholds that rest on more than one impostor,
and identity-bootstrap confidence intervals.

Pairs of the same people are not independent draws (one person with an impostor-prone face makes many false
matches), so the intervals resample **identities**, not pairs: each bootstrap replicate draws the identities of a
group with replacement and weighs every pair by how often each of its two people was drawn (a pair of people drawn
twice and three times counts six times; an identity drawn twice is not paired with its own copy).

Thresholds (:func:`threshold_for_fmr`): the empirical quantile when at least :data:`MIN_TAIL_ABOVE` impostors lie
above it; with fewer (a group of fewer than ``MIN_TAIL_ABOVE / target_fmr`` impostor pairs), a peaks-over-threshold
estimate — the ``TAIL_PAIRS`` highest impostor scores, their excess above the lowest of them fitted with an
exponential, extrapolated to the target FMR. Similarity tails of these networks fall off faster than an
exponential, so the extrapolation errs on the high (safe) side; it never rests on the single highest impostor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_TAIL_ABOVE = 10
TAIL_PAIRS = 25
BOOTSTRAP_REPLICATES = 1000
BOOTSTRAP_SEED = 20261206


@dataclass(frozen=True, slots=True)
class TailThreshold:
    threshold: float
    method: str  # "quantile" or "tail fit"
    pairs: int
    above: int  # impostors at or above the threshold in the data


def threshold_for_fmr(impostor: np.ndarray, target_fmr: float) -> TailThreshold:
    """The threshold for FMR ``target_fmr`` on these impostor similarities (NaN = no face: never a match)."""
    pairs = len(impostor)
    valid = np.sort(impostor[~np.isnan(impostor)])[::-1]
    if len(valid) == 0:
        return TailThreshold(-1.0, "no impostors", pairs, 0)
    allowed = math.floor(target_fmr * pairs)
    if allowed >= MIN_TAIL_ABOVE:
        threshold = float(valid[min(allowed, len(valid) - 1)]) + 1e-6
        return TailThreshold(threshold, "quantile", pairs, int(np.sum(valid >= threshold)))
    tail = min(TAIL_PAIRS, len(valid))
    if tail < 2:
        return TailThreshold(float(valid[0]) + 1e-6, "above the only impostor", pairs, 0)
    base = float(valid[tail - 1])
    excess = float(np.mean(valid[: tail - 1] - base))  # mean excess of the others above the lowest of the tail
    fraction_above_base = tail / pairs
    threshold = base + excess * math.log(fraction_above_base / target_fmr) if fraction_above_base > target_fmr else base
    return TailThreshold(threshold, "tail fit", pairs, int(np.sum(valid >= threshold)))


def _codes(identities: np.ndarray) -> tuple[np.ndarray, int]:
    labels, codes = np.unique(identities, return_inverse=True)
    return codes.reshape(identities.shape), len(labels)


def _draws(identity_count: int, replicates: int, seed: int) -> np.ndarray:
    """Replicates × identities: how often each identity was drawn (multinomial, as many draws as identities)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(identity_count, np.full(identity_count, 1.0 / identity_count), size=replicates).astype(
        np.float64
    )


def bootstrap_fmr_interval(
    impostor: np.ndarray,
    pair_identities: np.ndarray,
    threshold: float,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95 % identity-bootstrap interval of the FMR at ``threshold``; ``pair_identities`` is pairs × 2 (the two
    people of each impostor pair)."""
    if len(impostor) == 0:
        return float("nan"), float("nan")
    codes, count = _codes(pair_identities)
    flat = codes[:, 0] * count + codes[:, 1]
    pairs = np.bincount(flat, minlength=count * count).reshape(count, count).astype(np.float64)
    hits = np.bincount(flat, weights=(impostor >= threshold).astype(np.float64), minlength=count * count)
    hits = hits.reshape(count, count)
    if not hits.any():
        return 0.0, 0.0
    draws = _draws(count, replicates, seed)
    denominator = np.einsum("ri,ij,rj->r", draws, pairs, draws)
    numerator = np.einsum("ri,ij,rj->r", draws, hits, draws)
    rates = numerator / np.maximum(denominator, 1.0)
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_fnmr_interval(
    genuine: np.ndarray,
    identities: np.ndarray,
    threshold: float,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95 % identity-bootstrap interval of the FNMR at ``threshold`` (a NaN similarity, no face, is a miss)."""
    if len(genuine) == 0:
        return float("nan"), float("nan")
    codes, count = _codes(identities)
    pairs = np.bincount(codes, minlength=count).astype(np.float64)
    misses = np.bincount(codes, weights=(~(genuine >= threshold)).astype(np.float64), minlength=count)
    draws = _draws(count, replicates, seed)
    rates = (draws @ misses) / np.maximum(draws @ pairs, 1.0)
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)
