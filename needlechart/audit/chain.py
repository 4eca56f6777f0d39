"""The audit trail's tamper-evident chain.

Each clinic's audit rows form one chain (chain 0 holds the rows of no clinic): numbered from
1, each sealed with an HMAC-SHA256 over its content and the seal of the row before it. The
key comes from SECRET_KEY, so someone with only database access cannot seal a row of their
own. A row changed, removed or slipped in breaks the chain from there on, and `verify` names
the first such row. The append-only triggers stay (db/guards.py); the chain is what shows
when they were got round, by an owner of the tables or a restored backup.
"""

import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from needlechart.audit.models import AuditChain, AuditEvent, AuditVerification
from needlechart.db import bulk

GENESIS = "0" * 64
SALT = b"needlechart.audit-chain"
# The columns a seal covers, in order, as they read back from the database.
SEALED = (
    "chain", "sequence", "recorded_at", "clinic_id", "user_id", "username", "patient_id",
    "action", "object_type", "object_id", "client_address", "detail", "previous_hash",
)  # fmt: skip


# Values turned as the database gives them back, by column and object (see `_values`).
Known = dict[tuple[str, int], tuple[Any, Any]]


def _key(secret: str) -> bytes:
    return hashlib.sha256(SALT + secret.encode()).digest()


def _keys() -> list[bytes]:
    """The current key first, then the retired ones (SECRET_KEY_FALLBACKS and
    AUDIT_RETIRED_KEYS), so that rows sealed before a key rotation still verify
    (docs/operations.md). New rows are always sealed with the current key."""
    retired = [*settings.SECRET_KEY_FALLBACKS, *getattr(settings, "AUDIT_RETIRED_KEYS", [])]
    return [_key(settings.SECRET_KEY), *(_key(s) for s in retired)]


def _plain(name: str, value: Any) -> Any:
    if name == "recorded_at":
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if name == "client_address":
        return str(value) if value is not None else None
    return value


# One encoder for every seal: `json.dumps` with options makes a new one at each call, a
# cost paid per audit row (an import writes a hundred thousand).
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _message(values: dict[str, Any]) -> bytes:
    content = [_plain(name, values[name]) for name in SEALED]
    return _ENCODER.encode(content).encode()


def seal(values: dict[str, Any], key: bytes | None = None) -> str:
    return hmac.new(key or _keys()[0], _message(values), hashlib.sha256).hexdigest()


def _sealed_by_any_key(values: dict[str, Any]) -> bool:
    return any(hmac.compare_digest(seal(values, key), values["hash"]) for key in _keys())


def _values(event: AuditEvent, known: Known | None = None) -> dict[str, Any]:
    """The sealed columns of `event` as the database gives them back. `known` keeps the
    detail and address already turned, by the object: the rows of one list share them."""
    known = {} if known is None else known
    values = {name: getattr(event, name) for name in SEALED}
    for name, turn in (("detail", _stored_json), ("client_address", _stored_address)):
        key = (name, id(values[name]))
        if key not in known:
            # The object is kept beside its turn, so that its id is not reused meanwhile.
            known[key] = (values[name], turn(values[name]))
        values[name] = known[key][1]
    return values


def _stored_json(value: Any) -> Any:
    # As the database gives it back: JSON through a round trip.
    return json.loads(json.dumps(value))


def _stored_address(value: Any) -> Any:
    # An address as Django stores it.
    return AuditEvent._meta.get_field("client_address").get_prep_value(value)


def _take_places(chain: int, count: int) -> tuple[int, str]:
    """Reserve `count` places at the end of `chain`: the sequence before them and the last
    row's seal. One statement, whether or not the chain has a head yet; the head row stays
    locked until the transaction commits (PostgreSQL; on SQLite the transaction holds the
    database's write lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditchain (chain, sequence, last_hash) VALUES (%s, %s, %s) "
            "ON CONFLICT (chain) DO UPDATE "
            "SET sequence = audit_auditchain.sequence + excluded.sequence "
            "RETURNING sequence, last_hash",
            [chain, count, GENESIS],
        )
        sequence, last_hash = cursor.fetchone()
    return sequence - count, last_hash


def append(events: list[AuditEvent]) -> None:
    """Seal the events into their clinics' chains and save them, in one transaction."""
    chains: dict[int, list[AuditEvent]] = {}
    for event in events:
        event.chain = event.clinic_id or 0
        chains.setdefault(event.chain, []).append(event)
    key = _keys()[0]
    known: Known = {}
    with transaction.atomic(savepoint=False):
        # Chains locked in one order, so that two writers never wait for each other.
        for chain in sorted(chains):
            rows = chains[chain]
            before, previous = _take_places(chain, len(rows))
            for offset, event in enumerate(rows, start=1):
                event.sequence = before + offset
                event.previous_hash = previous
                event.hash = previous = seal(_values(event, known), key)
        if len(chains) == 1 and len(events) <= ROWS_WITH_THEIR_SEAL:
            _save_with_seal(events)
            return
        with connection.cursor() as cursor:
            for chain in sorted(chains):
                cursor.execute(
                    "UPDATE audit_auditchain SET last_hash = %s WHERE chain = %s",
                    [chains[chain][-1].hash, chain],
                )
        # Nothing reads an event after writing it: the rows need not read their ids back.
        bulk.insert(AuditEvent, events, keys=False)


# The most rows of one chain written by one INSERT with their chain's new seal: a page's
# audit writes (a list audits the rows it shows). More (an import's) are copied.
ROWS_WITH_THEIR_SEAL = 100


def _save_with_seal(events: list[AuditEvent]) -> None:
    """Rows of one chain and the chain's new seal, as every view of a patient's record
    writes them: by statements made once per process rather than by the ORM's save, which
    cost more than the statements. On PostgreSQL the seal goes with the rows in one
    statement, as each statement is a round trip to the server (the audit write was about
    a sixth of a page's time there), and rows of a list go as one array a column, so that a
    list of any length is one statement, which the driver prepares once. A single row reads
    its id back, as a save does."""
    fields = _columns()
    for event in events:
        event._prepare_related_fields_for_save(operation_name="save")
    rows = bulk.rows_of(events, fields)
    postgresql = connection.vendor == "postgresql"
    if len(rows) == 1:
        shape: int | str = "one"
    elif postgresql and bulk.unnestable(fields):
        shape = "arrays"
    else:
        shape = len(rows)
    head, insert = _with_seal_statements(connection.vendor, shape)
    if shape == "arrays":
        values = [list(column) for column in zip(*rows, strict=True)]
    else:
        values = [value for row in rows for value in row]
    seal = [events[-1].hash, events[-1].chain]
    with connection.cursor() as cursor:
        if head:
            cursor.execute(head, seal)
            cursor.execute(insert, values)
        else:
            cursor.execute(insert, [*seal, *values])
        if shape == "one":
            (events[0].pk,) = cursor.fetchone()
    for event in events:
        event._state.adding = False
        event._state.db = connection.alias


def _columns() -> list[Any]:
    return [field for field in AuditEvent._meta.concrete_fields if not field.primary_key]


@functools.lru_cache(maxsize=2 * ROWS_WITH_THEIR_SEAL)
def _with_seal_statements(vendor: str, shape: int | str) -> tuple[str, str]:
    """The statement that sets the chain's seal (none where the insert sets it too, on
    PostgreSQL) and the insert: of one row, returning its id ("one"); of a list as one
    array a column ("arrays", PostgreSQL); or of `shape` rows."""
    meta = AuditEvent._meta
    fields = _columns()
    quote = connection.ops.quote_name
    head = "UPDATE audit_auditchain SET last_hash = %s WHERE chain = %s"
    row = f"({', '.join(['%s'] * len(fields))})"
    if shape == "arrays":
        # As Django's own bulk insert on PostgreSQL: each column's type without its length.
        types = [field.db_type(connection).split("(")[0] for field in fields]
        arrays = ", ".join(f"(%s)::{kind}[]" for kind in types)
        rows = f"SELECT * FROM UNNEST({arrays})"  # noqa: S608 - the model's column types
    else:
        rows = f"VALUES {', '.join([row] * (1 if shape == 'one' else int(shape)))}"
    columns = ", ".join(quote(field.column) for field in fields)
    insert = f"INSERT INTO {quote(meta.db_table)} ({columns}) {rows}"
    if shape == "one":
        insert += f" RETURNING {quote(meta.pk.column)}"
    if vendor == "postgresql":
        return "", f"WITH head AS ({head}) {insert}"
    return head, insert


@dataclass(frozen=True)
class Verdict:
    chain: int
    rows: int
    last_sequence: int
    last_hash: str
    problem: str = ""

    @property
    def intact(self) -> bool:
        return not self.problem


def _rows(chain: int, up_to: int) -> Iterator[dict[str, Any]]:
    names = ("id", *SEALED, "hash")
    rows = AuditEvent.objects.filter(chain=chain, sequence__lte=up_to).order_by("sequence", "id")
    for row in rows.values_list(*names).iterator(chunk_size=2000):
        yield dict(zip(names, row, strict=True))


def _walk(chain: int, rows: Iterable[dict[str, Any]]) -> Verdict:
    """The first place where the chain breaks, in words, or none."""
    expected, previous, count = 1, GENESIS, 0
    for row in rows:
        count += 1
        where = f"row {row['id']}"
        problem = ""
        if row["sequence"] != expected:
            problem = (
                f"{where} has place {row['sequence']} where {expected} was expected: a row "
                "before it was removed, or it was inserted out of order"
            )
        elif row["previous_hash"] != previous:
            problem = (
                f"{where} (place {expected}) does not follow the row before it: a row was "
                "removed or inserted there"
            )
        elif not _sealed_by_any_key(row):
            problem = f"{where} (place {expected}) was changed after it was written"
        if problem:
            return Verdict(chain, count, expected - 1, previous, problem)
        expected, previous = expected + 1, row["hash"]
    return Verdict(chain, count, expected - 1, previous)


def _head(chain: int) -> tuple[int, str]:
    head = AuditChain.objects.filter(chain=chain).first()
    return (head.sequence, head.last_hash) if head is not None else (0, GENESIS)


def _outside_problem(chain: int, up_to: int) -> str:
    """Rows the chain does not account for: without a place, or past its end."""
    stray = (
        AuditEvent.objects.filter(chain=chain)
        .filter(Q(sequence__isnull=True) | Q(sequence__gt=up_to))
        .order_by("id")
        .first()
    )
    if stray is None:
        return ""
    return f"row {stray.pk} is not part of the chain: it was written outside the audit trail"


def _tail_problem(verdict: Verdict, head: tuple[int, str]) -> str:
    """Rows removed from the end leave no gap: the chain's head and the last walk of it
    remember how far it reached."""
    if head[0] != verdict.last_sequence or (head[0] and head[1] != verdict.last_hash):
        return (
            f"the chain ends at place {verdict.last_sequence} but its head says {head[0]}: "
            "rows were removed from its end, or its head was changed"
        )
    last = (
        AuditVerification.objects.filter(chain=verdict.chain, intact=True)
        .order_by("-verified_at", "-id")
        .first()
    )
    if last is None or not last.last_sequence:
        return ""
    kept = AuditEvent.objects.filter(
        chain=verdict.chain, sequence=last.last_sequence, hash=last.last_hash
    )
    if last.last_sequence > verdict.last_sequence or not kept.exists():
        return (
            f"the chain no longer holds place {last.last_sequence} as it was when verified on "
            f"{last.verified_at:%Y-%m-%d %H:%M} UTC: it was cut short or rewritten"
        )
    return ""


def chains() -> list[int]:
    return sorted(
        set(AuditEvent.objects.values_list("chain", flat=True).distinct())
        | set(AuditChain.objects.values_list("chain", flat=True))
    )


def verify(chain: int, *, keep: bool = True) -> Verdict:
    """Walk one chain; with `keep`, record the walk (for the audit page and the next walk).
    Rows written while it walks are left to the next walk: it reads the head first and
    walks that far, then reads the head again to tell new rows from stray ones."""
    head = _head(chain)
    verdict = _walk(chain, _rows(chain, head[0]))
    if verdict.intact:
        problem = _tail_problem(verdict, head) or _outside_problem(chain, _head(chain)[0])
        if problem:
            verdict = Verdict(
                chain, verdict.rows, verdict.last_sequence, verdict.last_hash, problem
            )
    if keep:
        AuditVerification.objects.create(
            chain=chain, intact=verdict.intact, rows=verdict.rows,
            last_sequence=verdict.last_sequence, last_hash=verdict.last_hash,
            problem=verdict.problem,
        )  # fmt: skip
    return verdict


def last_verification(chain: int) -> AuditVerification | None:
    return AuditVerification.objects.filter(chain=chain).order_by("-verified_at", "-id").first()
