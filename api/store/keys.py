"""API keys: a key's public id, tenant, role and name, and the sha256 of its secret (the secret
itself is never stored)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.errors import Conflict
from assistant.store import now_iso
from assistant.store import schema as t

_API_KEY = sa.select(t.api_keys).where(t.api_keys.c.id == sa.bindparam("id"))


@dataclass(frozen=True)
class ApiKey:
    """A key as listed (the field order is the JSON's)."""

    id: str
    tenant: str
    role: str  # agent | reviewer | admin
    name: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class StoredKey(ApiKey):
    """A key with the hash its secret is checked against."""

    secret_hash: str


class KeyStore:
    """API keys (a mixin: ``HttpStore`` gives the engine)."""

    engine: Engine

    def add_api_key(self, key_id: str, tenant: str, role: str, name: str, secret_hash: str) -> ApiKey:
        """Store a key's public id and the sha256 of its secret."""
        key = StoredKey(key_id, tenant, role, name, now_iso(), None, secret_hash)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(t.api_keys).values(
                id=key.id, tenant=key.tenant, role=key.role, name=key.name, secret_hash=key.secret_hash,
                created_at=key.created_at, revoked_at=None))
        return ApiKey(key.id, key.tenant, key.role, key.name, key.created_at, key.revoked_at)

    def api_key(self, key_id: str) -> StoredKey | None:
        """A key with its ``secret_hash``, revoked or not; ``None`` when no key has this id."""
        with self.engine.connect() as conn:
            r = conn.execute(_API_KEY, {"id": key_id}).first()
        return None if r is None else StoredKey(r.id, r.tenant, r.role, r.name, r.created_at, r.revoked_at,
                                                r.secret_hash)

    def api_keys(self, tenant: str | None = None) -> list[ApiKey]:
        """Keys, oldest first, without their hashes; of one tenant when ``tenant`` is given."""
        c = t.api_keys.c
        q = sa.select(c.id, c.tenant, c.role, c.name, c.created_at, c.revoked_at).order_by(c.created_at, c.id)
        if tenant is not None:
            q = q.where(c.tenant == tenant)
        with self.engine.connect() as conn:
            return [ApiKey(**r._asdict()) for r in conn.execute(q)]

    def revoke_api_key(self, key_id: str, tenant: str | None = None) -> bool:
        """Revoke a key (of ``tenant`` only, when given); False when there is no such unrevoked key;
        ``Conflict`` for its tenant's last active admin key (nobody could manage the tenant's keys)."""
        c = t.api_keys.c
        live = sa.and_(c.id == key_id, c.revoked_at.is_(None), *([c.tenant == tenant] if tenant is not None else []))
        other = t.api_keys.alias("other")
        admins = sa.select(sa.func.count()).where(other.c.tenant == c.tenant, other.c.role == "admin",
                                                  other.c.revoked_at.is_(None)).scalar_subquery()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(c.tenant, c.role).where(live)).first()
            if row is None:
                return False
            if row.role == "admin":  # lock the tenant's admin keys: two revokes cannot each leave the other one
                conn.execute(sa.select(c.id).where(c.tenant == row.tenant, c.role == "admin").with_for_update())
            # one statement, so that SQLite (one writer) sees the count it acts on
            done = conn.execute(sa.update(t.api_keys).where(live, sa.or_(c.role != "admin", admins > 1))
                                .values(revoked_at=now_iso())).rowcount
        if not done:
            raise Conflict(f"key {key_id} is the last active admin key of tenant {row.tenant!r}; create another "
                           f"admin key first (casepilot keys create --role admin --tenant {row.tenant})")
        return True
