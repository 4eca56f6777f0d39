"""The clinic's logo on the letterhead: uploaded by a clinic admin, checked by its bytes and
size, printed on every document issued after, and loaded from the clinic's row only."""

import base64
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from needlechart.accounts import services as account_services
from needlechart.audit.models import AuditEvent
from needlechart.documents import render, services
from tests.conftest import client_for


def png(width: int = 4, height: int = 2) -> bytes:
    """A small red PNG, made by hand."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))  # fmt: skip


def _form(clinic, **changes) -> dict:
    data = {name: getattr(clinic, name) for name in account_services.CLINIC_EDITABLE}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not False}
    data.update(changes)
    return data


def test_an_admin_uploads_a_logo_and_documents_issued_after_carry_it(signed):
    w = signed.world
    before = services.document_issue(actor=w.practitioner, kind="record", record=signed.patient)
    assert b"/Image" not in bytes(before.content)
    client = client_for(w.admin)
    upload = SimpleUploadedFile("logo.png", png(), content_type="image/png")
    response = client.post(reverse("charting:clinic"), _form(w.clinic_a, logo=upload))
    assert response.status_code == 302
    w.clinic_a.refresh_from_db()
    assert w.clinic_a.logo_type == "image/png" and bytes(w.clinic_a.logo) == png()
    row = AuditEvent.objects.filter(action="update", object_type="Organization").last()
    assert row.detail["logo"] == f"image/png, {len(png())} bytes"
    after = services.document_issue(actor=w.practitioner, kind="record", record=signed.patient)
    assert b"/Image" in bytes(after.content)
    # The clinic page shows the logo the letterhead carries.
    shown = client.get(reverse("charting:clinic")).content.decode()
    assert f'src="data:image/png;base64,{base64.b64encode(png()).decode()}"' in shown

    client.post(reverse("charting:clinic"), _form(w.clinic_a, remove_logo="on"))
    w.clinic_a.refresh_from_db()
    assert w.clinic_a.logo_type == "" and bytes(w.clinic_a.logo) == b""
    assert (
        "No logo: documents carry the clinic's name only."
        in client.get(reverse("charting:clinic")).content.decode()
    )


def test_a_logo_that_is_not_a_small_png_or_jpeg_is_refused_at_the_field(signed):
    w = signed.world
    client = client_for(w.admin)
    for upload, says in (
        (SimpleUploadedFile("logo.png", b"<svg onload='x'/>", "image/png"), "PNG or JPEG"),
        (SimpleUploadedFile("logo.png", png() + b"\x00" * 300_000, "image/png"),
         "at most 256 KB"),
    ):  # fmt: skip
        response = client.post(reverse("charting:clinic"), _form(w.clinic_a, logo=upload))
        assert response.status_code == 200
        assert says in " ".join(response.context["form"].errors["logo"])
    w.clinic_a.refresh_from_db()
    assert (
        w.clinic_a.logo_type == ""
        and not AuditEvent.objects.filter(action="update", object_type="Organization").exists()
    )


def test_a_document_loads_nothing_but_the_clinic_logo():
    # A record's text cannot reach a file or a URL, logo or not.
    html = '<img src="file:///etc/hostname"><img src="https://example.org/x.png"><p>x</p>'
    assert b"/Image" not in render._pdf(html)
    logo = render.Logo(png(), "image/png")
    assert b"/Image" not in render._pdf(html, logo)
    assert b"/Image" in render._pdf(f'<img src="{render.LOGO_URL}">', logo)
