"""The store's schema: the tables of the monitor's own record (cycles, notices), of what it found
(changes, papers) and of who got it (deliveries, dispatches, holds), on one `metadata`.

Each source keeps the tables only it reads in its own folder (`sources/<name>/tables.py`), on
this same `metadata`; the composition root gathers them all (monitor.house.schema). Schema
changes are Alembic revisions (store/migrations), hand-written and tested against the tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# The length of every column that holds a record's or a paper's id (revision 0012 widened them
# from 16): an EU CT number has 17 characters, a DOI often more.
ID_LENGTH = 64


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


metadata = MetaData()

cycles = Table(
    "cycles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(32)),
    # How the registry was read: full | incremental | unchanged (added in revision 0003).
    Column("mode", String(16)),
    Column("data_timestamp", String(32)),
    Column("requests", Integer, nullable=False, default=0),
    Column("bytes_received", Integer, nullable=False, default=0),
    Column("trials_checked", Integer, nullable=False, default=0),
    Column("changes_found", Integer, nullable=False, default=0),
    Column("error", Text),
    # The sources this cycle could not read, by name, space-separated (added in 0014).
    Column("unread", String(200)),
)


class DeliveryState(StrEnum):
    """Where one digest's send stands. Stored in `deliveries.state`."""

    SENDING = "sending"  # claimed; the message is on its way
    SENT = "sent"  # the mail server accepted it (or it is in the outbox)
    FAILED = "failed"  # refused or unreachable: its changes were given back
    ABANDONED = "abandoned"  # its sender died: its changes were given back


deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # sending → sent | failed | abandoned (claim expired after a crash)
    Column("state", String(16), nullable=False),
    # Revision 0012: the channel it went by (email, ...), and how (smtp, outbox, ...).
    Column("channel", String(32), nullable=False, server_default="email"),
    Column("transport", String(16), nullable=False),
    Column("cycle_id", Integer),  # added in revision 0005, as were recipients and dispatches
    Column("recipients", Text),
    # host:pid of the process sending it (revision 0007): a claim whose process is gone is
    # given back at once instead of after STALE_CLAIM.
    Column("claimed_by", String(300)),
    Column("message_id", String(200)),
    Column("subject", Text),
    Column("location", Text),
    Column("error", Text),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cycle_id", Integer, ForeignKey("cycles.id"), nullable=False),
    # Revision 0011: a change about a paper no trial is known for has neither.
    Column("snapshot_id", Integer, ForeignKey("snapshots.id")),
    Column("nct_id", String(ID_LENGTH)),  # the record a change is about (an NCT id, ...)
    Column("pmid", String(ID_LENGTH)),  # the paper a change is about, when it is about one
    # Revision 0012: that paper's row, whichever of its ids it was found by.
    Column("paper_id", Integer, ForeignKey("papers.id")),
    # Revision 0012: the source that found it (sources/<name>), for the digest's words.
    Column("source", String(32), nullable=False, server_default=""),
    Column("kind", String(32), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("detail", Text),
    Column("detected_at", UTCDateTime, nullable=False),
    Index("ix_changes_nct_id", "nct_id"),
    Index("ix_changes_pmid", "pmid"),
)

# PubMed's side (revision 0011): what PubMed last said of each paper read, each PubMed search
# the monitor runs (a cited trial's `NCT…[si]`, a saved literature search) and what it found.
papers = Table(
    "papers",
    metadata,
    # Revision 0012: a paper is one row whichever identifiers name it (its PMID, its DOI).
    Column("id", Integer, primary_key=True),
    Column("pmid", String(ID_LENGTH), unique=True),
    Column("doi", String(ID_LENGTH * 4), unique=True),
    Column("title", Text),
    Column("journal", Text),
    Column("year", String(4)),
    Column("publication_types", Text, nullable=False),  # JSON lists, as in snapshots
    Column("nct_ids", Text, nullable=False),
    Column("conclusion", Text),
    Column("notices", Text, nullable=False),  # [[RefType, PMID or null, source], ...]
    Column("status", String(40)),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
)

# Revision 0013: each article's findings (core/standing.py): a stable id, what it is, and when
# it stood. Open while resolved_at is empty.
findings = Table(
    "findings",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("article", String(100), nullable=False),  # the article's id
    Column("kind", String(32), nullable=False),  # a standing.FindingKind
    Column("subject", String(ID_LENGTH), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("importance", String(8), nullable=False),
    Column("first_cycle_id", Integer, ForeignKey("cycles.id")),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    # Revision 0016: where an editor put it (a standing.FindingState); its history is below.
    Column("state", String(16), nullable=False, server_default="open"),
    Index("ix_findings_article", "article"),
)

# Revision 0016: every change of a finding's state: who (as given, or the login name), through
# what (`via`: a command, later a page or a chat link), when, from what, with what note.
finding_states = Table(
    "finding_states",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", String(16), ForeignKey("findings.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("previous", String(16), nullable=False),
    Column("by", String(200), nullable=False),
    Column("via", String(16), nullable=False),
    Column("note", Text),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_finding_states_finding", "finding_id", "id"),
)

# Revision 0016: when each article's still-open findings were last said again in a digest (at
# most once a week), by article id.
reminders = Table(
    "reminders",
    metadata,
    Column("article", String(100), primary_key=True),
    Column("reminded_at", UTCDateTime, nullable=False),
)

# Revision 0013: every paper known to name a trial, whoever found it (the registry's references,
# PubMed's `[si]`): a paper that names a trial is news once, whichever source sees it first.
paper_links = Table(
    "paper_links",
    metadata,
    Column("nct_id", String(ID_LENGTH), primary_key=True),
    Column("pmid", String(ID_LENGTH), primary_key=True),
    Column("source", String(32), nullable=False),  # the source that saw it first
    Column("first_seen_at", UTCDateTime, nullable=False),
)

# Who is to get each change, and by which delivery. A change gets its rows when it is first
# delivered (routing may send it to several desks); each row is claimed by one delivery only.
dispatches = Table(
    "dispatches",
    metadata,
    Column("change_id", Integer, ForeignKey("changes.id"), primary_key=True),
    # Revision 0012: who, as a channel (email, ...) and a target on it (an address; "" = the
    # outbox, addressed to no one); before it, an email recipient.
    Column("channel", String(32), primary_key=True),
    Column("target", String(320), primary_key=True),
    Column("delivery_id", Integer, ForeignKey("deliveries.id")),
    # Revision 0009: the service's answer when it refused this target for good (their copy is
    # not sent again); None when delivered, or not yet.
    Column("refused", Text),
    Index("ix_dispatches_delivery_id", "delivery_id"),
)


# Added in revision 0002.
notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # a journal.NoticeKind
    Column("cycle_id", Integer, ForeignKey("cycles.id"), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("recipients", Text, nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
)


# Added in revision 0010: each article the monitor has given its first look (the article
# check), and this installation's own id, for Message-IDs no other monitor makes.
articles = Table(
    "articles",
    metadata,
    Column("key", String(1000), primary_key=True),
    Column("title", Text, nullable=False),
    Column("checked_at", UTCDateTime),
)

installation = Table(
    "installation",
    metadata,
    Column(
        "singleton", Integer, CheckConstraint("singleton = 1"), primary_key=True
    ),  # one row only
    Column("id", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


# Added in revision 0006: a cycle whose digest the sanity gate held until an operator releases
# it (or discards its changes as false).
holds = Table(
    "holds",
    metadata,
    Column("cycle_id", Integer, ForeignKey("cycles.id"), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("held_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime),
    Column("discarded", Boolean, nullable=False, default=False),
)
