"""Building the liveness checker: clip decoder (policy limits) + ONNX frame analyser + calibrated thresholds."""

from __future__ import annotations

from realname.adapters.vision.clip_stream import PyAvStreamingAnalysis
from realname.adapters.vision.clips import PyAvClipDecoder
from realname.adapters.vision.liveness_analyser import AnalyserSettings, OnnxFrameAnalyser
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.liveness import LivenessChecker
from realname.domain.liveness import LivenessThresholds
from realname.domain.policy import Policy

STREAM_KEEP_FRAMES_PER_SECOND = 1.0
"""A streamed clip keeps one candidate picture per second for matching (the best frames are one per third)."""


def build_liveness_checker(
    models: OnnxFaceModels,
    policy: Policy,
    *,
    thresholds: LivenessThresholds | None = None,
    analyser_settings: AnalyserSettings | None = None,
) -> LivenessChecker:
    """A :class:`LivenessChecker` over already loaded (and hash-verified) models.

    Clip limits come from ``policy.max_upload_bytes`` and ``policy.max_clip_seconds``; the thresholds default
    to the values calibrated on ../shared/data/liveness (see benchmarks/liveness_bench.py).
    """
    decoder = PyAvClipDecoder(max_bytes=policy.max_upload_bytes, max_seconds=policy.max_clip_seconds)
    analyser = OnnxFrameAnalyser(models, analyser_settings)

    def begin_stream() -> PyAvStreamingAnalysis:
        return PyAvStreamingAnalysis(decoder, analyser.start(keep_frames_per_second=STREAM_KEEP_FRAMES_PER_SECOND))

    return LivenessChecker(decoder, analyser, thresholds or LivenessThresholds(), begin_stream)
