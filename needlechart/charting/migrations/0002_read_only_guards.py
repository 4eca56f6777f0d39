"""Database triggers: recorded consents, screenings, templates and addenda are never
updated; signed assessments and sessions, and the rows under them, are read-only."""

from django.db import migrations

from needlechart.db import guards

GUARDS = [
    guards.append_only("charting_screening"),
    guards.append_only("charting_documenttemplate"),
    guards.append_only("charting_consent"),
    guards.append_only("charting_consentwithdrawal"),
    guards.append_only("charting_addendum"),
    guards.append_only("charting_aftercareissue"),
    guards.frozen_when_signed("charting_assessment"),
    guards.frozen_when_signed("charting_needlingsession"),
    guards.child_of_signed("charting_painmark", "assessment_id", "charting_assessment"),
    guards.child_of_signed("charting_triggerpointfinding", "assessment_id", "charting_assessment"),
    guards.child_of_signed("charting_insertion", "session_id", "charting_needlingsession"),
]


class Migration(migrations.Migration):
    dependencies = [("charting", "0001_initial")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: guards.install(editor, GUARDS),
            lambda apps, editor: guards.uninstall(editor, GUARDS),
        )
    ]
