"""Reconnection backoff (gRPC's connection-backoff algorithm and defaults)."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``base_delay * multiplier**attempt``,
    capped at ``max_delay``, randomised by ``±jitter`` (Go's backoff.Config).
    """

    base_delay: float = 1.0
    multiplier: float = 1.6
    jitter: float = 0.2
    max_delay: float = 120.0

    def __post_init__(self) -> None:
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within 0..1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before reconnection attempt number ``attempt`` (0-based)."""
        if attempt <= 0:
            base = self.base_delay
        else:
            base = min(self.base_delay * self.multiplier**attempt, self.max_delay)
        r = (rng or random).uniform(-1.0, 1.0)
        return max(0.0, min(base * (1 + self.jitter * r), self.max_delay))
