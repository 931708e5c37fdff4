"""Graceful shutdown for ``rag serve``.

On SIGTERM the server first drains: ``/ready`` answers 503 (``draining``) while every request, in flight or
new, is still served for ``RAG_DRAIN_SECONDS``, so that a load balancer or Kubernetes stops routing traffic
here. Then uvicorn stops accepting connections, waits for the requests in flight to complete and exits with
status 0. A second SIGTERM ends the drain at once; SIGINT (Ctrl-C) keeps uvicorn's behaviour.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn

from api.deps import ServingState

log = logging.getLogger("rag.api")


class DrainingServer(uvicorn.Server):
    """A uvicorn server that drains for ``drain_seconds`` on SIGTERM before its graceful shutdown."""

    def __init__(self, config: uvicorn.Config, state: ServingState, drain_seconds: float) -> None:
        super().__init__(config)
        self.state = state
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM starts (or, the second time, ends) the drain; other signals go to uvicorn."""
        if sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
            return
        # A SIGTERM is a shutdown on request: not re-raised after the graceful shutdown, so the exit status is 0.
        if self.drain_until is not None or self.drain_seconds <= 0:
            self.should_exit = True
            return
        self.state.draining = True
        self.drain_until = time.monotonic() + self.drain_seconds
        log.info("SIGTERM: draining for %.1f s (/ready answers 503), then shutting down", self.drain_seconds)

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's tick (every 0.1 s), which also ends the drain once its time is up."""
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            return True
        return await super().on_tick(counter)
