"""Adaptive debounce: wait longer between live queries when inference is slow.

With a fast model every pause in drawing should re-rank at once; with a slow one, firing a query
per mouse move only queues work that the next move makes stale. The delay follows an exponential
moving average of the measured query latency, clamped to a range.
"""

from __future__ import annotations

__all__ = ["AdaptiveDelay"]


class AdaptiveDelay:
    """Debounce delay = clamp(factor x EMA(latency), lo, hi) milliseconds.

    Args:
        lo_ms: shortest delay (also the start value).
        hi_ms: longest delay.
        factor: delay per millisecond of measured latency.
        alpha: EMA weight of the newest measurement.
    """

    def __init__(self, lo_ms: int = 60, hi_ms: int = 1500, factor: float = 1.0, alpha: float = 0.3) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if lo_ms > hi_ms:
            raise ValueError(f"lo_ms {lo_ms} > hi_ms {hi_ms}")
        self.lo_ms = lo_ms
        self.hi_ms = hi_ms
        self.factor = factor
        self.alpha = alpha
        self._ema: float | None = None

    def observe(self, latency_ms: float) -> None:
        """Feed one measured query latency (ms); negative or NaN values are ignored."""
        if not latency_ms >= 0:
            return
        self._ema = (
            latency_ms if self._ema is None else self.alpha * latency_ms + (1 - self.alpha) * self._ema
        )

    @property
    def latency_ms(self) -> float | None:
        """Smoothed latency, or None before the first measurement."""
        return self._ema

    @property
    def delay_ms(self) -> int:
        """The delay to wait after the last edit before querying."""
        if self._ema is None:
            return self.lo_ms
        return int(min(self.hi_ms, max(self.lo_ms, self.factor * self._ema)))
