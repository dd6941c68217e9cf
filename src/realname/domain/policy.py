"""Operator policy: limits, time windows and switches that the rules read.

Values come from configuration (``REALNAME_POLICY__*``); the domain only sees this frozen object.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Policy:
    """Every tunable rule of the service, with the defaults the regulator's text implies."""

    max_numbers_per_id: int = 5
    cooling_off_days: int = 90
    reservation_ttl_seconds: int = 600
    min_age: int = 16
    attempt_ttl_minutes: int = 30
    challenge_actions: int = 3
    challenge_ttl_seconds: int = 120
    max_challenges_per_attempt: int = 3
    max_reservations_per_attempt: int = 3
    target_fmr: float = 1e-4
    max_image_pixels: int = 40_000_000
    max_upload_bytes: int = 20 * 1024 * 1024
    max_clip_seconds: float = 10.0
    max_failed_attempts: int = 5
    lockout_window_minutes: int = 30
    lockout_minutes: int = 60
    retention_days_after_service: int = 730
    keep_evidence: bool = False
    evidence_retention_days: int = 365

    def __post_init__(self) -> None:
        positive = {
            "max_numbers_per_id": self.max_numbers_per_id,
            "reservation_ttl_seconds": self.reservation_ttl_seconds,
            "attempt_ttl_minutes": self.attempt_ttl_minutes,
            "challenge_actions": self.challenge_actions,
            "challenge_ttl_seconds": self.challenge_ttl_seconds,
            "max_challenges_per_attempt": self.max_challenges_per_attempt,
            "max_reservations_per_attempt": self.max_reservations_per_attempt,
            "max_image_pixels": self.max_image_pixels,
            "max_upload_bytes": self.max_upload_bytes,
            "max_failed_attempts": self.max_failed_attempts,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"policy.{name} must be positive")
        if self.cooling_off_days < 0 or self.min_age < 0:
            raise ValueError("policy day and age limits cannot be negative")
        if not 0.0 < self.target_fmr < 1.0:
            raise ValueError("policy.target_fmr must be in (0, 1)")
        if not 1 <= self.challenge_actions <= 4:
            raise ValueError("policy.challenge_actions must be between 1 and 4")
