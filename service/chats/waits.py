"""Long polls waiting for a chat's next message, in this process.

A long poll waits in a server thread (gunicorn's gthread worker, or the threaded development
server), never in a whole worker process. Three bounds keep threads free for officials:

- at most ``capacity`` long polls of a process wait at once; gunicorn.conf.py lowers it to three
  quarters of a worker's threads (``fit_to_threads``), so the last quarter always serves
  everything else, and a sync worker (one thread) lets no long poll wait at all;
- at most ``per_address`` of them come from one chat customer's address, and
  ``PER_CHAT`` from one chat's customer (a second browser tab).

A long poll that finds no seat is answered at once with what there is, like one whose wait has
run out, and told when to come back (``RETRY_AFTER_SECONDS``).

A seated poll sleeps on an Event instead of asking the database again and again. Whoever posts
to a chat (or ends it) wakes its waiters in this process and, with Redis, in every other process
through one subscriber thread per process. A waiter still looks again every ``recheck_seconds``
for a wake-up that was lost: Redis restarting, or several processes without Redis.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

from flask import current_app

from ..queue import listen, publish

CHANNEL = "service:chat-posted"
PER_CHAT = 2
RETRY_AFTER_SECONDS = 3


class WaitingRoom:
    def __init__(self, *, capacity: int, per_address: int, redis_url: str | None):
        self.capacity = max(0, capacity)
        self.per_address = per_address
        self._redis_url = redis_url
        # With Redis a wake-up is lost only when the subscription is (and on_gap wakes everyone).
        self.recheck_seconds = 5.0 if redis_url else 1.0
        # Reentrant: close() may run in a signal handler of the thread that holds it.
        self._lock = threading.RLock()
        self.closed = False
        self._events: dict[int, set[threading.Event]] = {}
        self._addresses: Counter[str] = Counter()
        self._customers: Counter[int] = Counter()
        self._seated = 0
        self._listening_in: int | None = None

    def fit_to_threads(self, threads: int) -> None:
        self.capacity = min(self.capacity, threads * 3 // 4)

    @property
    def seated(self) -> int:
        return self._seated

    @contextmanager
    def seat(self, chat_id: int, *, address: str | None = None, customer: bool = False
             ) -> Iterator[threading.Event | None]:
        """A seat to wait in, as an Event set when the chat changes; None when there is none.
        ``address`` and ``customer`` are given for a chat customer's poll, not an official's."""
        event = threading.Event()
        with self._lock:
            if (self.closed or self._seated >= self.capacity
                    or (address is not None and self._addresses[address] >= self.per_address)
                    or (customer and self._customers[chat_id] >= PER_CHAT)):
                event = None
            else:
                self._seated += 1
                self._events.setdefault(chat_id, set()).add(event)
                if address is not None:
                    self._addresses[address] += 1
                if customer:
                    self._customers[chat_id] += 1
        if event is None:
            yield None
            return
        self._listen_once()
        try:
            yield event
        finally:
            with self._lock:
                self._seated -= 1
                waiting = self._events[chat_id]
                waiting.discard(event)
                if not waiting:
                    del self._events[chat_id]
                if address is not None:
                    self._addresses[address] -= 1
                    if not self._addresses[address]:
                        del self._addresses[address]
                if customer:
                    self._customers[chat_id] -= 1
                    if not self._customers[chat_id]:
                        del self._customers[chat_id]

    def wake(self, chat_id: int) -> None:
        with self._lock:
            events = list(self._events.get(chat_id, ()))
        for event in events:
            event.set()

    def wake_all(self) -> None:
        with self._lock:
            events = [event for waiting in self._events.values() for event in waiting]
        for event in events:
            event.set()

    def close(self) -> None:
        """The process is stopping: the waiting polls are answered now and no new one waits,
        instead of holding the stop for up to their whole wait."""
        self.closed = True
        self.wake_all()

    def announce(self, chat_id: int) -> None:
        """The chat changed (committed): wake its waiters here and in every other process."""
        self.wake(chat_id)
        publish(CHANNEL, str(chat_id))

    def _on_message(self, data: bytes) -> None:
        try:
            chat_id = int(data)
        except ValueError:
            return
        self.wake(chat_id)

    def _listen_once(self) -> None:
        # Started by the first wait, in the process that waits: a thread started before a fork
        # (gunicorn's preload, RQ's work horses) would not exist in the child.
        if not self._redis_url or self._listening_in == os.getpid():
            return
        with self._lock:
            if self._listening_in == os.getpid():
                return
            self._listening_in = os.getpid()
        threading.Thread(target=listen, args=(self._redis_url, CHANNEL, self._on_message, self.wake_all),
                         name="chat-wake-ups", daemon=True).start()


def waiting_room() -> WaitingRoom:
    return current_app.extensions["chat_waits"]


def announce(chat_id: int) -> None:
    waiting_room().announce(chat_id)
