from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "needlechart.accounts"
    label = "accounts"
    verbose_name = "Clinics and staff"

    def ready(self) -> None:
        from django.core.signals import request_finished

        # Sign-ins stamp the session with their time (accounts/sessions.py).
        from needlechart.accounts import sessions  # noqa: F401
        from needlechart.accounts.middleware import leave_clinic_time_zone

        request_finished.connect(leave_clinic_time_zone, dispatch_uid="needlechart-time-zone")
