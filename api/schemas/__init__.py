"""Request and response bodies of the HTTP API: its contract, kept apart from the internal
dataclasses (``Answer``, ``SearchHit``, ``StoredRecord``), which may change without breaking clients.
One module per family of routes: ``answers``, ``records``, ``review``, ``console``, ``ops``,
``openai_compat``; what they share (the id rule, ``Request_``) is in ``common``.

Requests forbid unknown fields, so a forged ``tenant`` (or any typo) is a 422, never silently ignored.
"""
