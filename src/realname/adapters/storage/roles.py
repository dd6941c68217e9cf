"""A PostgreSQL role for the service that cannot change the audit log, whatever the triggers say.

The triggers of migration 0004 refuse UPDATE and DELETE on audit events and checkpoints, but the
tables' owner can drop triggers. Run ``realname init`` (migrations) as the owner and ``realname serve``
as a role made with these statements: it reads and writes what the service needs, appends to the
audit log, and can neither change nor remove audit rows nor drop the triggers (only an owner can).
Run them again after an upgrade that adds tables.
"""

from __future__ import annotations

import re

from realname.domain.errors import InvalidInput

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPEND_ONLY_TABLES = ("audit_event", "audit_checkpoint")
NO_DELETE_TABLES = ("audit_head", "key_fingerprint")


def app_role_statements(role: str, schema: str = "public") -> list[str]:
    """GRANT/REVOKE statements (run by the owner) that give ``role`` what the service needs.

    Raises:
        InvalidInput: ``db.identifier`` — ``role`` or ``schema`` is not a plain lower-case identifier.
    """
    for name in (role, schema):
        if not _IDENTIFIER.fullmatch(name):
            raise InvalidInput(
                f"{name!r} is not a plain PostgreSQL identifier (lower-case letters, digits, '_')",
                code="db.identifier",
            )

    def tables(names: tuple[str, ...]) -> str:
        return ", ".join(f"{schema}.{name}" for name in names)

    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables(APPEND_ONLY_TABLES)} FROM {role}",
        f"REVOKE DELETE, TRUNCATE ON {tables(NO_DELETE_TABLES)} FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}.alembic_version FROM {role}",
    ]
