"""The embedded default's sender: records what would have been sent instead of sending it."""

from __future__ import annotations

import logging
import threading

from .ports import Outgoing, SendResult

log = logging.getLogger(__name__)


class ConsoleSender:
    def __init__(self, channel: str):
        self.channel = channel
        self.sent: list[Outgoing] = []
        self._lock = threading.Lock()

    def send(self, message: Outgoing) -> SendResult:
        with self._lock:
            self.sent.append(message)
        # The recipient and body stay out of the log; the outbox row holds them.
        log.info("console %s backend: outbox message %s recorded, not sent", self.channel, message.outbox_id)
        return SendResult(provider_id=f"console-{self.channel}-{message.outbox_id}", provider_status="sent")
