"""Codes as an authenticator app shows them, for tests of two-factor sign-in."""

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def current_code(device: TOTPDevice) -> str:
    """The code the app shows now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = time.time()
    return f"{totp.token():06d}"


def next_code(device: TOTPDevice) -> str:
    """A code the device accepts after its last one, as a user gets by waiting for the app
    to show a new code.

    The device refuses a period it has already used, and django-otp moves its window by the
    drift it learnt at the last code (a code typed just after the period turned sets the
    drift to -1). So the period chosen is the later of the one after the last used and the
    middle of the device's window: a period boundary passing before the code is checked
    still leaves it inside the window."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    # totp.t() already includes the drift.
    period = max(device.last_t + 1, totp.t())
    at = TOTP(device.bin_key, device.step, device.t0, device.digits)
    at.time = device.t0 + period * device.step + device.step / 2
    return f"{at.token():06d}"
