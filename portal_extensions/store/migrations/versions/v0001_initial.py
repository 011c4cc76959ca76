# ruff: noqa: S608  (fixed DDL built from module constants; no outside input reaches it)
"""Initial store: directory, case index (with full-text search), outbox, sync, audit, reminders.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Frozen on purpose: later schema changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The portal's five roles (`portal_extensions.access.Role`), described for the people who grant
# them. Seeded here so a fresh store can hold users at once; frozen like the rest of this file.
ROLES = [
    {
        "name": "member",
        "description": "A councillor. Sees and works on their own cases, and on ward colleagues' "
        "cases that the resident has agreed to share with them.",
    },
    {
        "name": "members_services",
        "description": "Members' Services staff. Act on behalf of the councillors they support, "
        "and see and work on those councillors' cases.",
    },
    {
        "name": "team_leader",
        "description": "Members' Services team leader. Sees every case, to oversee the team's "
        "work and cover absences.",
    },
    {
        "name": "service_officer",
        "description": "A council service officer. Sees cases sent to their service, and only "
        "the details needed to respond, while the resident's authority is in force.",
    },
    {
        "name": "administrator",
        "description": "Runs the portal: accounts, settings and health checks. Sees no case "
        "content.",
    },
]

FTS_COLUMNS = "title, description, notes_text, constituent_name, address_text"
FTS_NEW = (
    "new.id, new.title, new.description, new.notes_text, new.constituent_name, new.address_text"
)
FTS_OLD = (
    "old.id, old.title, old.description, old.notes_text, old.constituent_name, old.address_text"
)

# Fixed DDL built from constants above (no outside input), hence the S608 waivers.
SQLITE_SEARCH = [
    # External-content FTS5 index over the case table, kept in step by triggers. unicode61
    # without stemming matches PostgreSQL's 'simple' configuration, so search behaves the same.
    f"CREATE VIRTUAL TABLE cases_fts USING fts5({FTS_COLUMNS}, content='cases', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER cases_fts_ai AFTER INSERT ON cases BEGIN "
    f"INSERT INTO cases_fts(rowid, {FTS_COLUMNS}) VALUES ({FTS_NEW}); END",
    f"CREATE TRIGGER cases_fts_ad AFTER DELETE ON cases BEGIN "
    f"INSERT INTO cases_fts(cases_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {FTS_OLD}); END",
    f"CREATE TRIGGER cases_fts_au AFTER UPDATE OF {FTS_COLUMNS} ON cases BEGIN "
    f"INSERT INTO cases_fts(cases_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {FTS_OLD}); "
    f"INSERT INTO cases_fts(rowid, {FTS_COLUMNS}) VALUES ({FTS_NEW}); END",
]
SQLITE_AUDIT = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN "
    "SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN "
    "SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END",
]
POSTGRES_SEARCH = [
    "ALTER TABLE cases ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(constituent_name, '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(description, '')), 'C') || "
    "setweight(to_tsvector('simple', coalesce(notes_text, '') || ' ' || "
    "coalesce(address_text, '')), 'D')) STORED",
    "CREATE INDEX ix_cases_search_vector ON cases USING gin (search_vector)",
]
POSTGRES_AUDIT = [
    "CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP; END $$",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()",
]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column(
            "detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_index(
        op.f("ix_audit_events_subject_id"), "audit_events", ["subject_id"], unique=False
    )
    op.create_table(
        "categories",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_categories")),
    )
    op.create_table(
        "constituents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crm_party_id", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=400), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("postcode", sa.String(length=10), nullable=True),
        sa.Column(
            "record", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_constituents")),
        sa.UniqueConstraint("crm_party_id", name=op.f("uq_constituents_crm_party_id")),
    )
    op.create_index(op.f("ix_constituents_postcode"), "constituents", ["postcode"], unique=False)
    op.create_table(
        "officers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("service_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officers")),
    )
    op.create_index(op.f("ix_officers_service_id"), "officers", ["service_id"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=36), nullable=False),
        sa.Column("portal_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crm_reference", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("attention_reason", sa.String(length=1000), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_outbox_portal_id"), "outbox", ["portal_id"], unique=False)
    op.create_index(op.f("ix_outbox_state"), "outbox", ["state"], unique=False)
    op.create_table(
        "parties",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
        sa.UniqueConstraint("name", name=op.f("uq_parties_name")),
    )
    roles_table = op.create_table(
        "roles",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roles")),
    )
    op.create_table(
        "sync_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crm_reference", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_problems")),
        sa.UniqueConstraint("crm_reference", name=op.f("uq_sync_problems_crm_reference")),
    )
    op.create_table(
        "sync_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("full_run_id", sa.String(length=36), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_count", sa.Integer(), nullable=True),
        sa.Column("last_seconds", sa.Float(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "wards",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wards")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.String(length=36), nullable=False),
        sa.Column("crm_reference", sa.String(length=64), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("ward_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("sharing_level", sa.String(length=10), nullable=False),
        sa.Column("sharing_colleague_id", sa.String(length=64), nullable=True),
        sa.Column("sharing_until", sa.Date(), nullable=True),
        sa.Column("authority_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("authority_withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("explicit_consent", sa.Boolean(), nullable=False),
        sa.Column("special_category", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledgement_due", sa.Date(), nullable=True),
        sa.Column("next_update_due", sa.Date(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("constituent_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("notes_text", sa.Text(), nullable=False),
        sa.Column("constituent_name", sa.String(length=400), nullable=False),
        sa.Column("address_text", sa.Text(), nullable=False),
        sa.Column(
            "record", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("crm_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("full_sync_run", sa.String(length=36), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_reason", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["constituent_id"],
            ["constituents.id"],
            name=op.f("fk_cases_constituent_id_constituents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("crm_reference", name=op.f("uq_cases_crm_reference")),
        sa.UniqueConstraint("portal_id", name=op.f("uq_cases_portal_id")),
    )
    op.create_index(op.f("ix_cases_constituent_id"), "cases", ["constituent_id"], unique=False)
    op.create_index(op.f("ix_cases_crm_modified_at"), "cases", ["crm_modified_at"], unique=False)
    op.create_index(op.f("ix_cases_member_id"), "cases", ["member_id"], unique=False)
    op.create_index("ix_cases_member_status", "cases", ["member_id", "status"], unique=False)
    op.create_index(op.f("ix_cases_next_update_due"), "cases", ["next_update_due"], unique=False)
    op.create_index(op.f("ix_cases_received_at"), "cases", ["received_at"], unique=False)
    op.create_index(op.f("ix_cases_service_id"), "cases", ["service_id"], unique=False)
    op.create_index(
        op.f("ix_cases_sharing_colleague_id"), "cases", ["sharing_colleague_id"], unique=False
    )
    op.create_index(op.f("ix_cases_status"), "cases", ["status"], unique=False)
    op.create_index(op.f("ix_cases_target_date"), "cases", ["target_date"], unique=False)
    op.create_index(op.f("ix_cases_ward_id"), "cases", ["ward_id"], unique=False)
    op.create_table(
        "members",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("ward_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_members_party_id_parties")
        ),
        sa.ForeignKeyConstraint(["ward_id"], ["wards.id"], name=op.f("fk_members_ward_id_wards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    op.create_index(op.f("ix_members_party_id"), "members", ["party_id"], unique=False)
    op.create_index(op.f("ix_members_ward_id"), "members", ["ward_id"], unique=False)
    op.create_table(
        "services",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("member_officer_id", sa.String(length=64), nullable=False),
        sa.Column("response_target_working_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_officer_id"],
            ["officers.id"],
            name=op.f("fk_services_member_officer_id_officers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("officer_id", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=400), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_users_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_users_officer_id_officers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_id"],
            ["cases.portal_id"],
            name=op.f("fk_reminders_portal_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reminders_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
    )
    op.create_index(op.f("ix_reminders_due_at"), "reminders", ["due_at"], unique=False)
    op.create_index(op.f("ix_reminders_portal_id"), "reminders", ["portal_id"], unique=False)
    op.create_table(
        "user_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("acting_for_member_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "(role_name = 'members_services' AND acting_for_member_id IS NOT NULL) OR "
            "(role_name <> 'members_services' AND acting_for_member_id IS NULL)",
            name=op.f("ck_user_roles_acting_for_only_members_services"),
        ),
        sa.ForeignKeyConstraint(
            ["acting_for_member_id"],
            ["members.id"],
            name=op.f("fk_user_roles_acting_for_member_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["role_name"], ["roles.name"], name=op.f("fk_user_roles_role_name_roles")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_roles")),
    )
    op.create_index(op.f("ix_user_roles_user_id"), "user_roles", ["user_id"], unique=False)
    names_member = sa.text("acting_for_member_id IS NOT NULL")
    names_no_member = sa.text("acting_for_member_id IS NULL")
    op.create_index(
        "uq_user_roles_user_id_role_name_acting_for",
        "user_roles",
        ["user_id", "role_name", "acting_for_member_id"],
        unique=True,
        sqlite_where=names_member,
        postgresql_where=names_member,
    )
    op.create_index(
        "uq_user_roles_user_id_role_name",
        "user_roles",
        ["user_id", "role_name"],
        unique=True,
        sqlite_where=names_no_member,
        postgresql_where=names_no_member,
    )
    op.bulk_insert(roles_table, ROLES)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = SQLITE_SEARCH + SQLITE_AUDIT
    elif dialect == "postgresql":
        statements = POSTGRES_SEARCH + POSTGRES_AUDIT
    else:  # pragma: no cover - refused by the engine factory before we get here
        raise RuntimeError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS cases_fts")
    for table in (
        "reminders",
        "user_roles",
        "roles",
        "users",
        "sync_problems",
        "sync_state",
        "outbox",
        "audit_events",
        "cases",
        "constituents",
        "categories",
        "members",
        "services",
        "officers",
        "parties",
        "wards",
    ):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_refuse_change()")
