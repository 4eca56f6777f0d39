"""Database triggers that keep clinical records and the audit trail as they were written.

The services already refuse such changes; the triggers make the database refuse them too,
so no code path (a forgotten service, a raw query, an admin shell, `_raw_delete`) can
rewrite or remove a signed note or an audit row. A signed or recorded row refuses UPDATE
and DELETE, rows under a signed record refuse INSERT as well, and on PostgreSQL the guarded
tables refuse TRUNCATE. Only the owner of the tables can lift them (`lifted`), which is how
a test database is flushed and a demo clinic rebuilt; the application's own database role
owns nothing (docs/deployment.md), so it cannot.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

READ_ONLY = "signed or recorded clinical records are read-only; write an addendum instead"
IN_ERROR = "entered_in_error_reason"
# The pain diary: the patient's own 0-10 ratings from the portal (outcomes.Observation).
DIARY = "OLD.timing = 'home' AND OLD.code = 'nprs'"


@dataclass(frozen=True)
class Guard:
    name: str
    sqlite: list[str]
    postgresql: list[str]
    # Tables the triggers write to besides their own: installed only once these exist.
    requires: tuple[str, ...] = ()
    # The column (table, column) a kept value is written to: installed only once it exists
    # (an earlier migration that rebuilds one of the tables puts its guards back before).
    column: tuple[str, str] | None = None


POSTGRES_FUNCTIONS = [
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '{READ_ONLY}'; END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse_signed() RETURNS trigger AS $$
    BEGIN
      IF OLD.signed_at IS NOT NULL THEN RAISE EXCEPTION '{READ_ONLY}'; END IF;
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END; $$ LANGUAGE plpgsql""",
    # TG_ARGV: the parent table and the foreign-key column that points at it.
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse_signed_parent() RETURNS trigger AS $$
    DECLARE parent bigint; signed timestamptz;
    BEGIN
      FOR parent IN SELECT (to_jsonb(r) ->> TG_ARGV[1])::bigint
                    FROM (SELECT NEW AS r WHERE TG_OP <> 'DELETE'
                          UNION ALL SELECT OLD WHERE TG_OP <> 'INSERT') AS rows
      LOOP
        IF parent IS NOT NULL THEN
          EXECUTE format('SELECT signed_at FROM %I WHERE id = $1', TG_ARGV[0])
            INTO signed USING parent;
          IF signed IS NOT NULL THEN RAISE EXCEPTION '{READ_ONLY}'; END IF;
        END IF;
      END LOOP;
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END; $$ LANGUAGE plpgsql""",
    # A recorded row changes once only: marked entered in error, with nothing else changed
    # but the columns named in TG_ARGV (such as a last-changed time).
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse_but_in_error() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.{IN_ERROR} = '' AND NEW.{IN_ERROR} <> ''
         AND (to_jsonb(NEW) - '{IN_ERROR}' - COALESCE(TG_ARGV, '{{}}'::text[]))
             = (to_jsonb(OLD) - '{IN_ERROR}' - COALESCE(TG_ARGV, '{{}}'::text[])) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '{READ_ONLY}';
    END; $$ LANGUAGE plpgsql""",
]


# The dashboard's kept episode figures (outcomes.EpisodeSummary): each trigger below adds one
# to `changes` of the episodes a written row bears on, and the dashboard recomputes those.
SUMMARY = "outcomes_episodesummary"
_MARK = (
    f"INSERT INTO {SUMMARY}"
    " (episode_id, changes, computed, signed_sessions, measured, evaluable, responder,"
    " sessions_until, needled, minor_events, major_events, weeks) SELECT DISTINCT m.e, 1, 0,"
    " 0, {false}, {false}, {false}, 0, {empty}, 0, 0, {empty}"
    " FROM ({select}) AS m"
    " WHERE m.e IS NOT NULL ON CONFLICT (episode_id) DO UPDATE"
    f" SET changes = {SUMMARY}.changes + 1"
)
POSTGRES_FUNCTIONS.append(
    # TG_ARGV[0]: a SELECT of the episode ids the row bears on, reading the row as $1 (jsonb).
    """CREATE OR REPLACE FUNCTION needlechart_mark_summary() RETURNS trigger AS $$
    DECLARE r jsonb;
    BEGIN
      FOR r IN SELECT to_jsonb(NEW) WHERE TG_OP <> 'DELETE'
               UNION ALL SELECT to_jsonb(OLD) WHERE TG_OP <> 'INSERT'
      LOOP
        EXECUTE format('"""
    + _MARK.replace("'", "''").format(false="false", empty="''{}''::jsonb", select="%s")
    + """', TG_ARGV[0]) USING r;
      END LOOP;
      RETURN NULL;
    END; $$ LANGUAGE plpgsql"""
)


def _mark_statement_rows(function: str, rows: str, arguments: str) -> str:
    """A statement-level function marking the episodes of the rows `rows` selects (as `r`,
    jsonb, from the statement's transition tables), reading each as the row trigger's $1.
    `arguments`: what format() fills the %s of `rows` and then the SELECT with."""
    select = f"SELECT m.e FROM ({rows}) AS x CROSS JOIN LATERAL (%s) AS m"
    mark = _MARK.replace("'", "''").format(false="false", empty="''{}''::jsonb", select=select)
    return (
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$ BEGIN "
        f"EXECUTE format('{mark}', {arguments}); RETURN NULL; END; $$ LANGUAGE plpgsql"
    )


POSTGRES_FUNCTIONS += [
    # The same for every row an INSERT or DELETE statement wrote, read from its transition
    # table `written` (a bulk load marks each episode once per statement, not per row: the
    # per-row function runs its SELECT anew for each row). TG_ARGV[0] as above.
    _mark_statement_rows(
        "needlechart_mark_summary_rows",
        "SELECT to_jsonb(w) AS r FROM written w",
        "replace(TG_ARGV[0], '$1', 'x.r')",
    ),
    # The same for the rows an UPDATE statement changed, each as it was and as it is, read
    # from its transition tables `old_rows` and `new_rows` joined by id. TG_ARGV[0] as above;
    # TG_ARGV[1]: the condition on `o` (the row before) and `n` (after) for a row to mark.
    # PostgreSQL keeps a statement's rows only for a trigger with no column list, so the
    # columns a summary reads are compared here (one statement signing 2,000 sessions marks
    # their episodes once, where a row trigger ran its SELECT 2,000 times).
    _mark_statement_rows(
        "needlechart_mark_summary_updated",
        "SELECT v.r FROM old_rows o JOIN new_rows n ON n.id = o.id CROSS JOIN LATERAL"
        " (VALUES (to_jsonb(o)), (to_jsonb(n))) AS v(r) WHERE %s",
        "TG_ARGV[1], replace(TG_ARGV[0], '$1', 'x.r')",
    ),
]


# Who signed a record (wrote an addendum, witnessed a consent, discharged): a person, never
# a service account (accounts.Role.SERVICE, whose value this layer cannot import).
SERVICE_SIGNS = "a service account signs nothing: a signature belongs to a person"
SERVICE_ROLE = "service"
POSTGRES_FUNCTIONS.append(
    # TG_ARGV[0]: the column naming the user who signs.
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse_service_signer() RETURNS trigger AS $$
    DECLARE signer bigint;
    BEGIN
      signer := (to_jsonb(NEW) ->> TG_ARGV[0])::bigint;
      IF signer IS NOT NULL AND EXISTS (
          SELECT 1 FROM accounts_user WHERE id = signer AND role = '{SERVICE_ROLE}') THEN
        RAISE EXCEPTION '{SERVICE_SIGNS}';
      END IF;
      RETURN NEW;
    END; $$ LANGUAGE plpgsql"""
)


def signed_by_a_person(table: str, column: str) -> Guard:
    """`column` of `table` names who put their name to the row: never a service account,
    whether the row is written with it or later signed."""
    name = f"{table}_{column}_person"
    when = (
        f"NEW.{column} IS NOT NULL AND "
        f"(SELECT role FROM accounts_user WHERE id = NEW.{column}) = '{SERVICE_ROLE}'"
    )
    refuse = f"BEGIN SELECT RAISE(ABORT, '{SERVICE_SIGNS}'); END"
    return Guard(
        name,
        [
            f"CREATE TRIGGER {name}_insert BEFORE INSERT ON {table} WHEN {when} {refuse}",
            f"CREATE TRIGGER {name}_update BEFORE UPDATE ON {table} WHEN {when} {refuse}",
        ],
        [
            f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION needlechart_refuse_service_signer('{column}')"
        ],
        requires=("accounts_user",),
    )


SIGNERS = [
    signed_by_a_person("charting_needlingsession", "signed_by_id"),
    signed_by_a_person("charting_assessment", "signed_by_id"),
    signed_by_a_person("charting_addendum", "author_id"),
    signed_by_a_person("charting_consent", "witnessed_by_id"),
    signed_by_a_person("outcomes_discharge", "discharged_by_id"),
    signed_by_a_person("documents_letteraddendum", "author_id"),
]


def _sqlite_refusal(name: str, event: str, table: str, when: str = "") -> str:
    condition = f" WHEN {when}" if when else ""
    return (
        f"CREATE TRIGGER {name} BEFORE {event} ON {table}{condition} "
        f"BEGIN SELECT RAISE(ABORT, '{READ_ONLY}'); END"
    )


def append_only(table: str) -> Guard:
    """No row of `table` is ever updated or deleted."""
    name = f"{table}_no_update"
    return Guard(
        name,
        [
            _sqlite_refusal(name, "UPDATE", table),
            _sqlite_refusal(f"{table}_no_delete", "DELETE", table),
        ],
        [
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION needlechart_refuse()",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION needlechart_refuse()",
        ],
    )


def frozen_when_signed(table: str) -> Guard:
    """A row of `table` is neither updated nor deleted once its signed_at is set."""
    name = f"{table}_signed_no_update"
    return Guard(
        name,
        [
            _sqlite_refusal(name, "UPDATE", table, "OLD.signed_at IS NOT NULL"),
            _sqlite_refusal(
                f"{table}_signed_no_delete", "DELETE", table, "OLD.signed_at IS NOT NULL"
            ),
        ],
        [
            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION needlechart_refuse_signed()"
        ],
    )


def child_of_signed(table: str, column: str, parent: str) -> Guard:
    """Rows of `table` are not added, changed or removed under a signed row of `parent`."""
    name = f"{table}_{column}_signed"
    signed = lambda row: f"(SELECT signed_at FROM {parent} WHERE id = {row}.{column}) IS NOT NULL"  # noqa: E731
    return Guard(
        name,
        [
            _sqlite_refusal(f"{name}_insert", "INSERT", table, signed("NEW")),
            _sqlite_refusal(
                f"{name}_update", "UPDATE", table, f"{signed('NEW')} OR {signed('OLD')}"
            ),
            _sqlite_refusal(f"{name}_delete", "DELETE", table, signed("OLD")),
        ],
        [
            f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION needlechart_refuse_signed_parent('{parent}', '{column}')"
        ],
    )


def recorded(
    table: str,
    columns: list[str],
    *,
    also: tuple[str, ...] = (),
    when: str = "",
    delete_when: str | None = None,
) -> Guard:
    """A row of `table` (those matching `when`, else all) is never deleted and changes once
    only: marked entered in error, every other column of `columns` as it was, except `also`.
    `delete_when`, where given, narrows the rows that refuse DELETE. `columns` are the
    table's columns, read from its model when the guard is installed."""
    name = f"{table}_recorded"
    kept = [c for c in columns if c not in (IN_ERROR, *also)]
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in kept)
    marking = f"OLD.{IN_ERROR} = '' AND NEW.{IN_ERROR} <> '' AND {unchanged}"
    scope = f"({when}) AND " if when else ""
    deleting = when if delete_when is None else delete_when
    arguments = ", ".join(f"'{c}'" for c in also)

    def pg(trigger: str, event: str, condition: str) -> str:
        return (
            f"CREATE TRIGGER {trigger} BEFORE {event} ON {table} FOR EACH ROW"
            + (f" WHEN ({condition})" if condition else "")
            + f" EXECUTE FUNCTION needlechart_refuse_but_in_error({arguments})"
        )

    return Guard(
        name,
        [
            _sqlite_refusal(f"{name}_update", "UPDATE", table, f"{scope}NOT ({marking})"),
            _sqlite_refusal(f"{name}_delete", "DELETE", table, deleting),
        ],
        [pg(name, "UPDATE", when), pg(f"{name}_delete", "DELETE", deleting)],
    )


def no_truncate(table: str) -> Guard:
    """PostgreSQL's TRUNCATE fires no row trigger: refused on its own (SQLite has none)."""
    name = f"{table}_no_truncate"
    return Guard(
        name,
        [],
        [
            f"CREATE TRIGGER {name} BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION needlechart_refuse()"
        ],
    )


def summary_marks(
    table: str, events: tuple[str, ...], sqlite: str, postgresql: str, when: str = ""
) -> Guard:
    """After each of `events` on `table`, mark the episodes the row bears on as changed.
    `sqlite` selects their ids, as `e`, from `{row}` (NEW or OLD); `postgresql` from the row
    as jsonb in $1. An UPDATE marks the episodes of the row before and after; on PostgreSQL,
    of the rows whose listed columns changed value. `when`: a condition on OLD and NEW (SQL
    both databases take) for a row-level UPDATE to mark."""
    sqlite_statements, pg_statements = [], []
    for event in events:
        rows = {"INSERT": ["NEW"], "DELETE": ["OLD"]}.get(event.split()[0], ["NEW", "OLD"])
        name = f"{table}_marks_{event.split()[0].lower()}"
        select = " UNION ".join(sqlite.format(row=row) for row in rows)
        condition = f" WHEN ({when})" if when else ""
        sqlite_statements.append(
            f"CREATE TRIGGER {name} AFTER {event} ON {table}"
            + (f" FOR EACH ROW{condition}" if when else "")
            + " BEGIN "
            + _MARK.format(false="0", empty="'{}'", select=select)
            + "; END"
        )
        argument = postgresql.replace("'", "''")
        if event in ("INSERT", "DELETE"):
            # Once per statement over the rows it wrote. PostgreSQL keeps the rows of a
            # statement only for a trigger on one event with no column list.
            written = "NEW" if event == "INSERT" else "OLD"
            pg_statements.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {written} TABLE "
                f"AS written FOR EACH STATEMENT "
                f"EXECUTE FUNCTION needlechart_mark_summary_rows('{argument}')"
            )
        elif not when:
            # Once per statement too, over the rows whose listed columns (any, with no
            # list) changed value.
            columns = [c.strip() for c in event.partition(" OF ")[2].split(",") if c.strip()]
            changed = (
                f"({', '.join(f'o.{c}' for c in columns)}) IS DISTINCT FROM "
                f"({', '.join(f'n.{c}' for c in columns)})"
                if columns
                else "true"
            )
            pg_statements.append(
                f"CREATE TRIGGER {name} AFTER UPDATE ON {table} REFERENCING OLD TABLE AS "
                "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION needlechart_mark_summary_updated('{argument}', '{changed}')"
            )
        else:
            pg_statements.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{condition} "
                f"EXECUTE FUNCTION needlechart_mark_summary('{argument}')"
            )
    return Guard(f"{table}_marks", sqlite_statements, pg_statements, requires=(SUMMARY,))


def summary_sources() -> list[Guard]:
    """What an episode's summary is computed from (outcomes/dashboard.py `_course` and
    `_compute_summaries`): its NPRS measures, the time and signing of its sessions, the time
    of its assessments, entered-in-error addenda of either, and its condition (which picks
    the NPRS rule). Every measure marks, not the NPRS ones only: the episode page keeps the
    course it shows by the marks (outcomes/selectors.py `_kept_course`). Also what the rest
    of the dashboard's figures read, as the dashboard reuses them while no episode of the
    clinic is marked (`kept_figures`): adverse events and their follow-ups, care plans (the
    review date), an episode's status and care manager, the patient's name and record number
    (the review list), and the clinic's zone (the weeks the sessions are counted in)."""
    own = ("SELECT {row}.episode_id AS e", "SELECT ($1->>'episode_id')::bigint AS e")
    in_error = (
        "SELECT episode_id AS e FROM charting_needlingsession"
        " WHERE id = {session} AND {kind} = 'entered-in-error'"
        " UNION SELECT episode_id FROM charting_assessment"
        " WHERE id = {assessment} AND {kind} = 'entered-in-error'"
    )
    addendum = (
        in_error.format(
            session="{row}.session_id", assessment="{row}.assessment_id", kind="{row}.kind"
        ),
        in_error.format(
            session="($1->>'session_id')::bigint",
            assessment="($1->>'assessment_id')::bigint",
            kind="$1->>'kind'",
        ),
    )
    return [
        summary_marks("outcomes_observation", ("INSERT", "UPDATE", "DELETE"), *own),
        summary_marks(
            "charting_needlingsession",
            ("INSERT", "UPDATE OF performed_at, signed_at, episode_id", "DELETE"),
            *own,
        ),
        summary_marks("charting_assessment", ("UPDATE OF performed_at, episode_id",), *own),
        summary_marks("charting_addendum", ("INSERT",), *addendum),
        summary_marks(
            "patients_episodeofcare",
            ("UPDATE OF condition_code, status, care_manager_id, patient_id",),
            "SELECT {row}.id AS e",
            "SELECT ($1->>'id')::bigint AS e",
        ),
        summary_marks(
            "patients_patient",
            ("UPDATE OF mrn, given_name, family_name, clinic_id",),
            "SELECT id AS e FROM patients_episodeofcare WHERE patient_id = {row}.id",
            "SELECT id AS e FROM patients_episodeofcare WHERE patient_id = ($1->>'id')::bigint",
        ),
        summary_marks("outcomes_careplan", ("INSERT",), *own),
        # The weekly counts are kept in the clinic's zone.
        summary_marks(
            "accounts_clinic",
            ("UPDATE OF timezone",),
            "SELECT e.id AS e FROM patients_episodeofcare e"
            " JOIN patients_patient p ON p.id = e.patient_id WHERE p.clinic_id = {row}.id",
            "SELECT e.id AS e FROM patients_episodeofcare e"
            " JOIN patients_patient p ON p.id = e.patient_id"
            " WHERE p.clinic_id = ($1->>'id')::bigint",
            when="OLD.timezone <> NEW.timezone",
        ),
        summary_marks(
            "charting_adverseevent",
            ("INSERT", "UPDATE"),
            "SELECT episode_id AS e FROM charting_needlingsession WHERE id = {row}.session_id",
            "SELECT episode_id AS e FROM charting_needlingsession"
            " WHERE id = ($1->>'session_id')::bigint",
        ),
        summary_marks(
            "charting_adverseeventfollowup",
            ("INSERT",),
            "SELECT s.episode_id AS e FROM charting_adverseevent a"
            " JOIN charting_needlingsession s ON s.id = a.session_id WHERE a.id = {row}.event_id",
            "SELECT s.episode_id AS e FROM charting_adverseevent a"
            " JOIN charting_needlingsession s ON s.id = a.session_id"
            " WHERE a.id = ($1->>'event_id')::bigint",
        ),
    ]


# An episode's current plan review date (patients.EpisodeOfCare.plan_review_on): the review
# date of its latest plan version. Plans are append-only, so a new version is the only
# change; an episode written with any other value (a save that loaded it before a plan was
# added, a raw UPDATE) gets the plan's date back.
EPISODES = "patients_episodeofcare"
PLANS = "outcomes_careplan"
REVIEW_COLUMN = "plan_review_on"


def _current_review(episode: str) -> str:
    return (
        f"(SELECT review_on FROM {PLANS} WHERE episode_id = {episode}"
        " ORDER BY version DESC LIMIT 1)"
    )


POSTGRES_FUNCTIONS += [
    # Once per statement over the plans it wrote: a bulk load updates each episode once (and
    # the episode's own trigger below then checks the date again).
    f"""CREATE OR REPLACE FUNCTION needlechart_plan_review_rows() RETURNS trigger AS $$
    BEGIN
      UPDATE {EPISODES} e SET {REVIEW_COLUMN} = c.review_on
      FROM (SELECT DISTINCT ON (p.episode_id) p.episode_id, p.review_on FROM {PLANS} p
            WHERE p.episode_id IN (SELECT episode_id FROM written)
            ORDER BY p.episode_id, p.version DESC) AS c
      WHERE e.id = c.episode_id AND e.{REVIEW_COLUMN} IS DISTINCT FROM c.review_on;
      RETURN NULL;
    END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION needlechart_plan_review_kept() RETURNS trigger AS $$
    BEGIN
      NEW.{REVIEW_COLUMN} := {_current_review("NEW.id")};
      RETURN NEW;
    END; $$ LANGUAGE plpgsql""",
]


def plan_review_kept() -> Guard:
    """The episode's plan review date follows its plans on every path. An episode is
    written with its date worked out again: at insert (Django's foreign keys are checked at
    commit, so a load may write an episode's plans before the episode), and whenever an
    update sets a different date."""
    current = _current_review("NEW.id")
    keep = f"BEGIN UPDATE {EPISODES} SET {REVIEW_COLUMN} = {current} WHERE id = NEW.id; END"
    return Guard(
        f"{PLANS}_keeps_review",
        [
            f"CREATE TRIGGER {PLANS}_keeps_review AFTER INSERT ON {PLANS} BEGIN "
            f"UPDATE {EPISODES} SET {REVIEW_COLUMN} = {_current_review('NEW.episode_id')} "
            "WHERE id = NEW.episode_id; END",
            # SQLite's triggers cannot change the row being written: the row is put right
            # after it (by then its date is the plan's, so a second firing does nothing).
            f"CREATE TRIGGER {EPISODES}_review_inserted AFTER INSERT ON {EPISODES} "
            f"FOR EACH ROW WHEN NEW.{REVIEW_COLUMN} IS NOT {current} {keep}",
            f"CREATE TRIGGER {EPISODES}_review_updated AFTER UPDATE OF {REVIEW_COLUMN} "
            f"ON {EPISODES} FOR EACH ROW WHEN NEW.{REVIEW_COLUMN} IS NOT {current} {keep}",
        ],
        [
            f"CREATE TRIGGER {PLANS}_keeps_review AFTER INSERT ON {PLANS} REFERENCING NEW "
            "TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION needlechart_plan_review_rows()",
            f"CREATE TRIGGER {EPISODES}_review_inserted BEFORE INSERT ON {EPISODES} "
            "FOR EACH ROW EXECUTE FUNCTION needlechart_plan_review_kept()",
            f"CREATE TRIGGER {EPISODES}_review_updated BEFORE UPDATE ON {EPISODES} FOR EACH ROW "
            f"WHEN (NEW.{REVIEW_COLUMN} IS DISTINCT FROM OLD.{REVIEW_COLUMN}) "
            "EXECUTE FUNCTION needlechart_plan_review_kept()",
        ],
        requires=(EPISODES,),
        column=(EPISODES, REVIEW_COLUMN),
    )


# A reported effect's and a check-in's patient (portal.ReportedEffect.patient,
# portal.CheckIn.patient): its session's episode's patient. A row is written with its patient
# worked out again, and a session or episode written or moved carries its rows' patient with
# it (Django's foreign keys are checked at commit, so a load may write an effect before its
# session, or a session before its episode).
EFFECTS = "portal_reportedeffect"
CHECK_INS = "portal_checkin"
SESSIONS = "charting_needlingsession"
# The column each such row keeps its patient in.
KEPT_PATIENT = "patient_id"
# Each table whose rows keep their session's patient, with the words its triggers and
# functions are named by (one row, many rows).
PATIENT_KEPT = {EFFECTS: ("effect", "effects"), CHECK_INS: ("check_in", "check_ins")}


def _patient_of_session(session: str) -> str:
    return (
        f"(SELECT e.patient_id FROM {SESSIONS} s JOIN {EPISODES} e ON e.id = s.episode_id"
        f" WHERE s.id = {session})"
    )


def _function(name: str, body: str, result: str = "NULL") -> str:
    """A PL/pgSQL trigger function that runs `body`, then returns `result` (NEW, to write
    the row as changed; NULL after the row is written)."""
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ "
        f"BEGIN {body}; RETURN {result}; END; $$ LANGUAGE plpgsql"
    )


def _patient_kept_functions(table: str) -> list[str]:
    one, many = PATIENT_KEPT[table]
    column = KEPT_PATIENT
    return [
        _function(
            f"needlechart_{one}_patient",
            f"NEW.{column} := {_patient_of_session('NEW.session_id')}",
            result="NEW",
        ),
        # Once per statement over the sessions or episodes it wrote: a bulk load's sessions
        # usually come before their effects and check-ins, and this then finds nothing to do.
        _function(
            f"needlechart_session_{many}_rows",
            f"UPDATE {table} r SET {column} = e.patient_id"
            f" FROM written w JOIN {EPISODES} e ON e.id = w.episode_id"
            f" WHERE r.session_id = w.id AND r.{column} IS DISTINCT FROM e.patient_id",
        ),
        _function(
            f"needlechart_episode_{many}_rows",
            f"UPDATE {table} r SET {column} = w.patient_id"
            f" FROM written w JOIN {SESSIONS} s ON s.episode_id = w.id"
            f" WHERE r.session_id = s.id AND r.{column} IS DISTINCT FROM w.patient_id",
        ),
        _function(
            f"needlechart_session_{many}_moved",
            f"UPDATE {table} SET {column} = {_patient_of_session('NEW.id')}"
            f" WHERE session_id = NEW.id"
            f" AND {column} IS DISTINCT FROM {_patient_of_session('NEW.id')}",
        ),
        _function(
            f"needlechart_episode_{many}_moved",
            f"UPDATE {table} r SET {column} = NEW.patient_id FROM {SESSIONS} s"
            f" WHERE s.episode_id = NEW.id AND r.session_id = s.id"
            f" AND r.{column} IS DISTINCT FROM NEW.patient_id",
        ),
    ]


POSTGRES_FUNCTIONS += [
    statement for table in PATIENT_KEPT for statement in _patient_kept_functions(table)
]


def _patient_kept(table: str) -> Guard:
    """A row's patient follows its session on every path: the row written (inserted, or
    updated with another patient or session), and the session or episode it hangs from
    written or moved."""
    one, many = PATIENT_KEPT[table]
    column = KEPT_PATIENT
    of_row = _patient_of_session("NEW.session_id")
    fix_row = f"BEGIN UPDATE {table} SET {column} = {of_row} WHERE id = NEW.id; END"
    of_episode = f"(SELECT patient_id FROM {EPISODES} WHERE id = NEW.episode_id)"
    fix_session = (
        f"BEGIN UPDATE {table} SET {column} = {of_episode} WHERE session_id = NEW.id"
        f" AND {column} IS NOT {of_episode}; END"
    )
    fix_episode = (
        f"BEGIN UPDATE {table} SET {column} = NEW.patient_id WHERE session_id IN"
        f" (SELECT id FROM {SESSIONS} WHERE episode_id = NEW.id)"
        f" AND {column} IS NOT NEW.patient_id; END"
    )
    return Guard(
        f"{table}_keeps_patient",
        [
            # SQLite's triggers cannot change the row being written: it is put right after.
            f"CREATE TRIGGER {table}_patient_inserted AFTER INSERT ON {table} "
            f"FOR EACH ROW WHEN NEW.{column} IS NOT {of_row} {fix_row}",
            f"CREATE TRIGGER {table}_patient_updated AFTER UPDATE OF {column}, "
            f"session_id ON {table} FOR EACH ROW WHEN NEW.{column} IS NOT {of_row} "
            f"{fix_row}",
            f"CREATE TRIGGER {SESSIONS}_{many}_patient AFTER INSERT ON {SESSIONS} "
            f"FOR EACH ROW {fix_session}",
            f"CREATE TRIGGER {SESSIONS}_{many}_moved AFTER UPDATE OF episode_id ON {SESSIONS} "
            f"FOR EACH ROW {fix_session}",
            f"CREATE TRIGGER {EPISODES}_{many}_patient AFTER INSERT ON {EPISODES} "
            f"FOR EACH ROW {fix_episode}",
            f"CREATE TRIGGER {EPISODES}_{many}_moved AFTER UPDATE OF patient_id ON {EPISODES} "
            f"FOR EACH ROW {fix_episode}",
        ],
        [
            f"CREATE TRIGGER {table}_patient_inserted BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION needlechart_{one}_patient()",
            f"CREATE TRIGGER {table}_patient_updated BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN (NEW.{column} IS DISTINCT FROM OLD.{column} "
            "OR NEW.session_id IS DISTINCT FROM OLD.session_id) "
            f"EXECUTE FUNCTION needlechart_{one}_patient()",
            f"CREATE TRIGGER {SESSIONS}_{many}_patient AFTER INSERT ON {SESSIONS} REFERENCING "
            "NEW TABLE AS written FOR EACH STATEMENT "
            f"EXECUTE FUNCTION needlechart_session_{many}_rows()",
            f"CREATE TRIGGER {SESSIONS}_{many}_moved AFTER UPDATE ON {SESSIONS} FOR EACH ROW "
            "WHEN (NEW.episode_id IS DISTINCT FROM OLD.episode_id) "
            f"EXECUTE FUNCTION needlechart_session_{many}_moved()",
            f"CREATE TRIGGER {EPISODES}_{many}_patient AFTER INSERT ON {EPISODES} REFERENCING "
            "NEW TABLE AS written FOR EACH STATEMENT "
            f"EXECUTE FUNCTION needlechart_episode_{many}_rows()",
            f"CREATE TRIGGER {EPISODES}_{many}_moved AFTER UPDATE ON {EPISODES} FOR EACH ROW "
            "WHEN (NEW.patient_id IS DISTINCT FROM OLD.patient_id) "
            f"EXECUTE FUNCTION needlechart_episode_{many}_moved()",
        ],
        requires=(table, SESSIONS, EPISODES),
        column=(table, column),
    )


def effect_patient_kept() -> Guard:
    """A reported effect's patient follows its session on every path."""
    return _patient_kept(EFFECTS)


def check_in_patient_kept() -> Guard:
    """A check-in's patient follows its session on every path."""
    return _patient_kept(CHECK_INS)


def kept_from_now(guard: Callable[[], Guard]) -> tuple[Any, Any]:
    """Two migration steps for a column the database keeps: install `guard()`'s triggers in
    the migration's own transaction, before the column is filled (a row written once the
    migration commits, by a server still running the code before it, is kept too); and,
    going back, drop them before the column goes."""

    def install_step(apps: Any, schema_editor: Any) -> None:
        install(schema_editor, [guard()])

    def uninstall_step(apps: Any, schema_editor: Any) -> None:
        uninstall(schema_editor, [guard()])

    return install_step, uninstall_step


def install(schema_editor, guards: list[Guard]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for statement in POSTGRES_FUNCTIONS:
            schema_editor.execute(statement, params=None)
    tables = set(schema_editor.connection.introspection.table_names())
    for guard in guards:
        # A guard on a table a later migration creates: `ensure` installs it once it exists
        # (an earlier migration's `rebuilding` names it when it names a table it reads).
        if _table(guard) not in tables or not set(guard.requires) <= tables:
            continue
        if guard.column is not None and not _has_column(schema_editor.connection, *guard.column):
            continue
        for statement in getattr(guard, vendor, []):
            schema_editor.execute(statement, params=None)


def uninstall(schema_editor, guards: list[Guard]) -> None:
    vendor = schema_editor.connection.vendor
    for guard in guards:
        for statement in getattr(guard, vendor, []):
            schema_editor.execute(_drop_statement(statement, vendor), params=None)


def all_guards(connection: Any = None) -> list[Guard]:
    """Every trigger of the project, installed again after each migration (see `ensure`).
    With a connection, also the guards written from the columns its tables have now."""
    guards = [
        append_only("audit_auditevent"),
        append_only("audit_auditverification"),
        append_only("charting_screening"),
        append_only("charting_documenttemplate"),
        append_only("charting_consent"),
        append_only("charting_consentwithdrawal"),
        append_only("charting_addendum"),
        append_only("charting_aftercareissue"),
        frozen_when_signed("charting_assessment"),
        frozen_when_signed("charting_needlingsession"),
        child_of_signed("charting_painmark", "assessment_id", "charting_assessment"),
        child_of_signed("charting_triggerpointfinding", "assessment_id", "charting_assessment"),
        child_of_signed("charting_insertion", "session_id", "charting_needlingsession"),
        child_of_signed("outcomes_observation", "assessment_id", "charting_assessment"),
        child_of_signed("outcomes_observation", "session_id", "charting_needlingsession"),
        append_only("outcomes_careplan"),
        append_only("outcomes_plangoal"),
        append_only("outcomes_plantherapy"),
        append_only("outcomes_discharge"),
        append_only("charting_adverseeventfollowup"),
        append_only("documents_document"),
        append_only("documents_lettertemplate"),
        frozen_when_signed("documents_letter"),
        append_only("documents_letteraddendum"),
    ]
    guards += [no_truncate(table) for table in sorted({_table(g) for g in guards})]
    guards += SIGNERS
    if connection is not None:
        guards += _recorded(connection)
        if _has_column(connection, EPISODES, REVIEW_COLUMN):
            guards.append(plan_review_kept())
        if _has_column(connection, EFFECTS, KEPT_PATIENT):
            guards.append(effect_patient_kept())
        if _has_column(connection, CHECK_INS, KEPT_PATIENT):
            guards.append(check_in_patient_kept())
    return guards + summary_sources()


def _has_column(connection: Any, table: str, column: str) -> bool:
    """Whether `table` exists with `column` (a database migrated back before it has not)."""
    if table not in connection.introspection.table_names():
        return False
    with connection.cursor() as cursor:
        described = connection.introspection.get_table_description(cursor, table)
    return column in {c.name for c in described}


def _recorded(connection: Any) -> list[Guard]:
    """Measurements outside a draft and adverse events: kept, and only marked in error.
    Their trigger lists every column, so it is written from the table as it is; SQLite drops
    a table's own triggers when a migration rebuilds it, and `ensure` writes them again."""
    tables = set(connection.introspection.table_names())
    guards = []
    for table, options in (
        (
            "outcomes_observation",
            {
                "when": "OLD.session_id IS NULL AND OLD.assessment_id IS NULL",
                # A patient's own pain diary is not part of the clinical record: it may be
                # erased at their request (portal/privacy.py), never changed.
                "delete_when": "OLD.session_id IS NULL AND OLD.assessment_id IS NULL "
                f"AND NOT ({DIARY})",
            },
        ),
        ("charting_adverseevent", {"also": ("updated_at",)}),
    ):
        if table in tables:
            with connection.cursor() as cursor:
                columns = [
                    c.name for c in connection.introspection.get_table_description(cursor, table)
                ]
            guards.append(recorded(table, columns, **options))
            guards.append(no_truncate(table))
    return guards


def _table(guard: Guard) -> str:
    return guard.postgresql[0].split(" ON ")[1].split()[0]


def _drop_statement(statement: str, vendor: str) -> str:
    trigger, table = statement.split()[2], statement.split(" ON ")[1].split()[0]
    if vendor == "postgresql":
        return f"DROP TRIGGER IF EXISTS {trigger} ON {table}"
    return f"DROP TRIGGER IF EXISTS {trigger}"


def ensure(connection: Any) -> None:
    """(Re)install every trigger whose table exists.

    SQLite rebuilds a table for many schema changes and drops its triggers with it, so a
    later migration could silently remove a guard; running this after every migrate puts
    them all back. Plain DDL through a cursor, so it also runs inside a transaction.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in POSTGRES_FUNCTIONS:
                cursor.execute(statement)
        for statement in _statements(connection):
            cursor.execute(_drop_statement(statement, connection.vendor))
            cursor.execute(statement)


def _statements(connection: Any) -> list[str]:
    """The statements of every guard on a table that exists."""
    tables = set(connection.introspection.table_names())
    return [
        statement
        for guard in all_guards(connection)
        if _table(guard) in tables and set(guard.requires) <= tables
        for statement in getattr(guard, connection.vendor, [])
    ]


@contextmanager
def lifted(connection: Any) -> Iterator[None]:
    """Every guard dropped for the block and put back after it, in one transaction: how a
    test database is flushed and a demo clinic removed. Dropping a trigger takes the
    tables' owner, which the application's database role is not (docs/deployment.md)."""
    from django.db import transaction

    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            for statement in _statements(connection):
                cursor.execute(_drop_statement(statement, connection.vendor))
        yield
        ensure(connection)


def touching(tables: set[str]) -> list[Guard]:
    """The guards on, or naming, any of `tables` (those `all_guards` lists only for a
    database with their columns included: a migration rebuilding a table drops them too)."""
    return [
        guard
        for guard in [
            *all_guards(),
            plan_review_kept(),
            effect_patient_kept(),
            check_in_patient_kept(),
        ]
        if any(table in statement for statement in guard.sqlite for table in tables)
    ]


def rebuilding(*tables: str) -> tuple[Any, Any]:
    """Two migration steps around a change that SQLite makes by rebuilding `tables`: drop the
    guards that name them (a trigger naming a table breaks its rebuild), then put them back.
    """
    chosen = set(tables)

    def drop(apps: Any, schema_editor: Any) -> None:
        uninstall(schema_editor, touching(chosen))

    def restore(apps: Any, schema_editor: Any) -> None:
        install(schema_editor, touching(chosen))

    return drop, restore
