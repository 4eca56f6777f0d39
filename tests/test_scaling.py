"""The property the scale-out path relies on (docs/scaling.md): every table of the clinic's
records reaches its clinic through keys that are never empty, so that the clinic can be the
distribution key."""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.urls import reverse

from needlechart.accounts.models import Clinic, User
from needlechart.charting.models import Addendum
from tests.conftest import client_for
from tests.test_access import PAGES, ROLES, _kwargs, charted  # noqa: F401  (a fixture)

# Accounts belong to a clinic except a superuser's; the trail's rows, except the system's.
OWN_CLINIC_OR_NONE = {"accounts.User", "accounts.Practitioner", "accounts.DryNeedlingCredential",
                      "accounts.RecoveryCode",
                      "audit.AuditEvent", "audit.Submission",
                      # A clinic's audit chain is numbered by the clinic's id, 0 for no clinic.
                      "audit.AuditChain", "audit.AuditVerification"}  # fmt: skip
# A record with one of several parents, each of which reaches the clinic.
ONE_OF_PARENTS = {"charting.Addendum": ("assessment", "session", "discharge")}


def path_to_clinic(model: type[models.Model], seen: tuple = ()) -> list[str] | None:
    """The shortest chain of never-empty keys from `model` to its clinic, not through a
    user (whose clinic may be empty)."""
    if model is Clinic:
        return []
    best = None
    for field in model._meta.concrete_fields:
        target = field.related_model
        if not field.is_relation or field.null or target in (None, model, User) or target in seen:
            continue
        rest = path_to_clinic(target, (*seen, model))
        if rest is not None and (best is None or len(rest) + 1 < len(best)):
            best = [field.name, *rest]
    return best


def test_every_clinical_table_reaches_its_clinic_through_keys_that_are_never_empty():
    missing = []
    for model in apps.get_models():
        label = model._meta.label
        if not model.__module__.startswith("needlechart.") or model is Clinic:
            continue
        if label in OWN_CLINIC_OR_NONE:
            continue
        if label in ONE_OF_PARENTS:
            for name in ONE_OF_PARENTS[label]:
                parent = model._meta.get_field(name).related_model
                assert path_to_clinic(parent) is not None, (label, name)
            continue
        if path_to_clinic(model) is None:
            missing.append(label)
    assert missing == [], "no path to the clinic: " + ", ".join(missing)


def test_the_scale_out_plan_names_the_path_of_every_table():
    """docs/scaling.md's table of paths is the plan's list of distributed tables: a table
    added without a row there would be left out of the move."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "scaling.md").read_text()
    table = text[text.index("| Table | Path to its clinic |") : text.index("## What changes")]
    named = set(re.findall(r"\b([a-z]+\.[A-Z][A-Za-z]+)\b", table))
    models_ = {
        model._meta.label
        for model in apps.get_models()
        if model.__module__.startswith("needlechart.") and model is not Clinic
    }
    assert models_ - named == set()
    assert named - models_ == set()


def test_an_addendum_without_a_parent_is_refused_by_the_database(world):
    # So an addendum's clinic is never in doubt.
    with pytest.raises(IntegrityError), transaction.atomic():
        Addendum.objects.create(reason="No record", text="Orphan", author=world.practitioner)


# --- no page reads another clinic's rows ---------------------------------------------------

# The paths of the tables whose clinic may be empty (for rows of clinic B it is not).
OWN_CLINIC_PATHS = {"accounts.User": "clinic", "accounts.Practitioner": "user__clinic",
                    "accounts.DryNeedlingCredential": "practitioner__user__clinic",
                    "accounts.RecoveryCode": "user__clinic",
                    "audit.AuditEvent": "clinic", "audit.Submission": "user__clinic",
                    "audit.AuditChain": "chain", "audit.AuditVerification": "chain"}  # fmt: skip


def _rows_of(clinic: Clinic) -> dict[type[models.Model], list]:
    """The primary keys of every row that belongs to `clinic`, table by table."""
    rows = {}
    for model in apps.get_models():
        label = model._meta.label
        if not model.__module__.startswith("needlechart."):
            continue
        if model is Clinic:
            where = Q(pk=clinic.pk)
        elif label in OWN_CLINIC_PATHS:
            path = OWN_CLINIC_PATHS[label]
            where = Q(**{path: clinic.pk if path == "chain" else clinic})
        elif label in ONE_OF_PARENTS:
            where = Q()
            for name in ONE_OF_PARENTS[label]:
                parent = model._meta.get_field(name).related_model
                where |= Q(**{"__".join([name, *path_to_clinic(parent)]): clinic})
        else:
            where = Q(**{"__".join(path_to_clinic(model)): clinic})
        rows[model] = list(model._base_manager.filter(where).values_list("pk", flat=True))
    return rows


def _forget(rows: dict[type[models.Model], list]) -> None:
    """Delete the rows, bypassing the guards that keep signed records: only inside a
    transaction that is rolled back (the keys are checked at commit, which never comes)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER "{name}"')
        for model, pks in rows.items():
            if pks:
                table = connection.ops.quote_name(model._meta.db_table)
                key = connection.ops.quote_name(model._meta.pk.column)
                marks = ", ".join(["%s"] * len(pks))
                cursor.execute(f"DELETE FROM {table} WHERE {key} IN ({marks})", pks)  # noqa: S608


def _results(queries: list[tuple[str, tuple]]) -> list[list[str]]:
    results = []
    with connection.cursor() as cursor:
        for sql, params in queries:
            cursor.execute(sql, params)
            # Compared as a multiset: the order of rows a query does not sort is not a result.
            results.append(sorted(repr(row) for row in cursor.fetchall()))
    return results


class Rollback(Exception):
    pass


def test_no_page_reads_rows_of_another_clinic(charted):  # noqa: F811
    """Each page of clinic A, for each role that may see it, runs queries whose results do not
    change when every row of clinic B is gone: no query joins, counts or returns another
    clinic's rows, which is what lets the clinic be the distribution key (docs/scaling.md)."""
    world = charted
    captured: list[tuple[str, str, tuple]] = []
    page = ""

    def capture(execute, sql, params, many, context):
        if not many and sql.lstrip().upper().startswith("SELECT"):
            captured.append((page, sql, tuple(params or ())))
        return execute(sql, params, many, context)

    for name, row in sorted(PAGES.items()):
        for role in ROLES:
            if row[2 + ROLES.index(role)] != "200":
                continue
            client = client_for(world.by_role(role))
            url = reverse(name, kwargs=_kwargs(world, name, clinic="a"))
            page = f"{name} as {role}"
            with connection.execute_wrapper(capture):
                assert client.get(url).status_code == 200, page
    assert len({p for p, _, _ in captured}) > 40  # the pages were visited, and queried
    queries = [(sql, params) for _, sql, params in captured]
    clinic_b = _rows_of(world.clinic_b)
    assert sum(map(len, clinic_b.values())) > 50  # clinic B has a charted patient to hide
    before = _results(queries)
    try:
        with transaction.atomic():
            _forget(clinic_b)
            after = _results(queries)
            raise Rollback
    except Rollback:
        pass
    leaks = [
        f"{where}: {sql[:200]}"
        for (where, sql, _), old, new in zip(captured, before, after, strict=True)
        if old != new
    ]
    assert leaks == [], "queries that read clinic B's rows:\n" + "\n".join(leaks)
