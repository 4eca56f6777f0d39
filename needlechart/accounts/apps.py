from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "needlechart.accounts"
    label = "accounts"
    verbose_name = "Clinics and staff"

    def ready(self) -> None:
        # Sign-ins stamp the session with their time (accounts/sessions.py).
        from needlechart.accounts import sessions  # noqa: F401
