"""The store's tables, as SQLAlchemy Core metadata (the migrations create them).

The case index keeps the whole mapped `MemberCase` as JSON, plus the columns that lists, the
access policy and reports filter and sort on, so no page has to parse JSON to decide anything.
"""

from __future__ import annotations

import sqlalchemy as sa

from portal_extensions.store.types import JSONDoc, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)

# ------------------------------------------------------------------ directory
wards = sa.Table(
    "wards",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
)
parties = sa.Table(
    "parties",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
)
members = sa.Table(
    "members",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("party_id", sa.ForeignKey("parties.id"), nullable=False, index=True),
    sa.Column("ward_id", sa.ForeignKey("wards.id"), nullable=False, index=True),
    sa.Column("email", sa.String(320)),
)
officers = sa.Table(
    "officers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("phone", sa.String(40)),
    # No foreign key: a service names its member officer, so the reverse link would be a cycle.
    sa.Column("service_id", sa.String(64), index=True),
)
services = sa.Table(
    "services",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("member_officer_id", sa.ForeignKey("officers.id"), nullable=False),
    sa.Column("response_target_working_days", sa.Integer, nullable=False),
)
categories = sa.Table(
    "categories",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("group_name", sa.String(200)),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# ------------------------------------------------------------- people, cases
constituents = sa.Table(
    "constituents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("crm_party_id", sa.String(64), unique=True),
    sa.Column("display_name", sa.String(400), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("phone", sa.String(40)),
    sa.Column("postcode", sa.String(10), index=True),
    sa.Column("record", JSONDoc, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("portal_id", sa.String(36), nullable=False, unique=True),
    sa.Column("crm_reference", sa.String(64), unique=True),
    sa.Column("member_id", sa.String(64), nullable=False, index=True),
    sa.Column("ward_id", sa.String(64), nullable=False, index=True),
    sa.Column("service_id", sa.String(64), index=True),
    sa.Column("category", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("sharing_level", sa.String(10), nullable=False),
    sa.Column("sharing_colleague_id", sa.String(64), index=True),
    sa.Column("sharing_until", sa.Date),
    sa.Column("authority_recorded_at", UTCDateTime),
    sa.Column("authority_withdrawn_at", UTCDateTime),
    sa.Column("explicit_consent", sa.Boolean, nullable=False),
    sa.Column("special_category", sa.Boolean, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False, index=True),
    sa.Column("closed_at", UTCDateTime),
    sa.Column("acknowledgement_due", sa.Date),
    sa.Column("next_update_due", sa.Date, index=True),
    sa.Column("target_date", sa.Date, index=True),
    sa.Column("constituent_id", sa.ForeignKey("constituents.id"), index=True),
    # Full-text fields (SQLite FTS5 external content / PostgreSQL generated tsvector).
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("notes_text", sa.Text, nullable=False),
    sa.Column("constituent_name", sa.String(400), nullable=False),
    sa.Column("address_text", sa.Text, nullable=False),
    sa.Column("record", JSONDoc, nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
    sa.Column("crm_modified_at", UTCDateTime, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("synced_at", UTCDateTime),
    sa.Column("full_sync_run", sa.String(36)),
    sa.Column("removed_at", UTCDateTime),
    sa.Column("removed_reason", sa.String(200)),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # For reports (revision 0005): how the enquiry came and who raised it, and the council days
    # it was received and closed, so periods and months are counted without time-zone SQL.
    sa.Column("channel", sa.String(20)),
    sa.Column("raised_by", sa.String(20)),
    sa.Column("received_day", sa.Date),
    sa.Column("closed_day", sa.Date),
)
sa.Index("ix_cases_member_status", cases.c.member_id, cases.c.status)
# Covering indexes for the list parts (revision 0002): each holds what a part filters, counts
# and sorts on, so a list never reads the large case rows it does not show. The lists' order
# (newest first) follows the exactly matched columns, so a page is read in order.
_NEWEST = (cases.c.received_at, cases.c.portal_id)
_BUCKET_COLUMNS = (cases.c.status, cases.c.target_date, cases.c.closed_at)
sa.Index("ix_cases_member_list", cases.c.member_id, cases.c.removed_at, *_NEWEST, *_BUCKET_COLUMNS)
sa.Index(
    "ix_cases_ward_sharing_list",
    cases.c.ward_id,
    cases.c.sharing_level,
    *_NEWEST,
    cases.c.member_id,
    cases.c.removed_at,
    cases.c.authority_recorded_at,
    cases.c.authority_withdrawn_at,
    *_BUCKET_COLUMNS,
)
sa.Index(
    "ix_cases_cover_list",
    cases.c.sharing_colleague_id,
    cases.c.sharing_level,
    *_NEWEST,
    cases.c.member_id,
    cases.c.removed_at,
    cases.c.sharing_until,
    cases.c.authority_recorded_at,
    cases.c.authority_withdrawn_at,
    *_BUCKET_COLUMNS,
)

# What the reports count (revision 0005): everything a volume or timeliness figure filters and
# groups on, so a report reads this index instead of the large case rows.
REPORT_COLUMNS = (
    cases.c.received_day,
    cases.c.closed_day,
    cases.c.status,
    cases.c.target_date,
    cases.c.removed_at,
    cases.c.member_id,
    cases.c.ward_id,
    cases.c.service_id,
    cases.c.category,
    cases.c.channel,
    cases.c.raised_by,
)
sa.Index("ix_cases_report", *REPORT_COLUMNS)
# The same by status and day closed: the open cases, and those closed in a period.
REPORT_STATUS_COLUMNS = (
    cases.c.status,
    cases.c.closed_day,
    cases.c.received_day,
    *REPORT_COLUMNS[3:],
)
sa.Index("ix_cases_report_status", *REPORT_STATUS_COLUMNS)
# A service request's case by portal id, with what a report filters on (and a service
# officer's access reads), so timeliness never reads the large case rows.
REPORT_LOOKUP_COLUMNS = (
    cases.c.portal_id,
    cases.c.removed_at,
    cases.c.status,
    cases.c.closed_day,
    *REPORT_COLUMNS[5:],
    cases.c.authority_recorded_at,
    cases.c.authority_withdrawn_at,
)
sa.Index("ix_cases_report_lookup", *REPORT_LOOKUP_COLUMNS)
# One row per request a case sent to a service (revision 0005), from the case's record: the
# council days it was sent, due and answered, for timeliness per service.
case_service_requests = sa.Table(
    "case_service_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "portal_id",
        sa.ForeignKey("cases.portal_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("sent_day", sa.Date, nullable=False),
    sa.Column("response_due", sa.Date, nullable=False),
    sa.Column("responded_day", sa.Date),
)
sa.Index(
    "ix_case_service_requests_sent",
    case_service_requests.c.sent_day,
    case_service_requests.c.service_id,
    case_service_requests.c.portal_id,
    case_service_requests.c.response_due,
    case_service_requests.c.responded_day,
)

# ------------------------------------------------------------ users and roles
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(200), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("member_id", sa.ForeignKey("members.id")),
    sa.Column("officer_id", sa.ForeignKey("officers.id")),
    sa.Column("password_hash", sa.String(400)),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
roles = sa.Table(
    "roles",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("description", sa.String(400), nullable=False),
)
# One row per grant. A members' services grant names the member supported in
# `acting_for_member_id` (one row per supported member); every other grant leaves it null. A
# unique constraint over a nullable column would let NULLs repeat on both databases, so two
# partial unique indexes cover the two kinds of grant instead.
user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("role_name", sa.ForeignKey("roles.name"), nullable=False),
    sa.Column("acting_for_member_id", sa.ForeignKey("members.id")),
    sa.CheckConstraint(
        "(role_name = 'members_services' AND acting_for_member_id IS NOT NULL) OR "
        "(role_name <> 'members_services' AND acting_for_member_id IS NULL)",
        name="acting_for_only_members_services",
    ),
)
_GRANT_NAMES_MEMBER = user_roles.c.acting_for_member_id.is_not(None)
_GRANT_NAMES_NO_MEMBER = user_roles.c.acting_for_member_id.is_(None)
sa.Index(
    "uq_user_roles_user_id_role_name_acting_for",
    user_roles.c.user_id,
    user_roles.c.role_name,
    user_roles.c.acting_for_member_id,
    unique=True,
    sqlite_where=_GRANT_NAMES_MEMBER,
    postgresql_where=_GRANT_NAMES_MEMBER,
)
sa.Index(
    "uq_user_roles_user_id_role_name",
    user_roles.c.user_id,
    user_roles.c.role_name,
    unique=True,
    sqlite_where=_GRANT_NAMES_NO_MEMBER,
    postgresql_where=_GRANT_NAMES_NO_MEMBER,
)

# Signed-in sessions (revision 0003): only a hash of each session id, so a copy of the table
# cannot be used to sign in.
portal_sessions = sa.Table(
    "portal_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(200), nullable=False, index=True),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Failed sign-ins (revision 0006): one counter per throttled key (an account, or an account
# from one address), named by a keyed hash, so the table holds no user names or addresses.
sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", UTCDateTime, nullable=False, index=True),
)

# Change counters (revision 0004): `cases` goes up in every transaction that changes a case
# row, so a cache of something computed from the index knows when it is out of date.
change_counters = sa.Table(
    "change_counters",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# --------------------------------------------------------------------- outbox
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("idempotency_key", sa.String(36), nullable=False, unique=True),
    sa.Column("portal_id", sa.String(36), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("payload", JSONDoc, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claim_token", sa.String(36)),
    sa.Column("claimed_until", UTCDateTime),
    sa.Column("crm_reference", sa.String(64)),
    sa.Column("last_error", sa.String(1000)),
    sa.Column("attention_reason", sa.String(1000)),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("confirmed_at", UTCDateTime),
)

# ----------------------------------------------------------------------- sync
sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("watermark", UTCDateTime),
    sa.Column("full_run_id", sa.String(36)),
    sa.Column("last_started_at", UTCDateTime),
    sa.Column("last_finished_at", UTCDateTime),
    sa.Column("last_full_at", UTCDateTime),
    sa.Column("last_count", sa.Integer),
    sa.Column("last_seconds", sa.Float),
    sa.Column("last_error", sa.String(1000)),
)
CASES_SYNC_STATE = "cases"
"""The `sync_state` row of the case sync (read by the status report and health)."""
sync_problems = sa.Table(
    "sync_problems",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("crm_reference", sa.String(64), nullable=False, unique=True),
    sa.Column("field", sa.String(200), nullable=False),
    sa.Column("message", sa.String(1000), nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
)

# ---------------------------------------------------------------------- audit
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("on_behalf_of", sa.String(200)),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject_type", sa.String(40), nullable=False),
    sa.Column("subject_id", sa.String(64), index=True),
    sa.Column("detail", JSONDoc, nullable=False),
)

# ------------------------------------------------------------------ reminders
reminders = sa.Table(
    "reminders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("portal_id", sa.ForeignKey("cases.portal_id", ondelete="CASCADE"), index=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False, index=True),
    sa.Column("message", sa.String(1000), nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("done_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

__all__ = [
    "CASES_SYNC_STATE",
    "REPORT_COLUMNS",
    "audit_events",
    "case_service_requests",
    "cases",
    "categories",
    "change_counters",
    "constituents",
    "members",
    "metadata",
    "officers",
    "outbox",
    "parties",
    "portal_sessions",
    "reminders",
    "roles",
    "services",
    "sign_in_failures",
    "sync_problems",
    "sync_state",
    "user_roles",
    "users",
    "wards",
]
