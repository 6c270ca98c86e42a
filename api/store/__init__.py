"""What only the HTTP side keeps in the database: API keys, chat-channel bots (channels, seen events,
thread tickets) and import jobs. The tables are in the one schema and migration chain of
``assistant.store``; the access code is the API's, on the same engine as the ``Store``.

    keys.py   API keys (hashed secrets, roles, revocation)
    bots.py   bot channels, the events a channel has seen, each chat thread's ticket
    jobs.py   import jobs and their progress
"""

from __future__ import annotations

from assistant.store import Store

from .bots import BotChannel, BotStore, StoredChannel
from .jobs import ImportJob, JobStore
from .keys import ApiKey, KeyStore, StoredKey

__all__ = ["ApiKey", "BotChannel", "BotStore", "HttpStore", "ImportJob", "JobStore", "KeyStore", "StoredChannel",
           "StoredKey"]


class HttpStore(KeyStore, BotStore, JobStore):
    """The HTTP side's tables, on ``store``'s engine. One per process where bot events are claimed:
    it remembers when it last pruned expired events."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
