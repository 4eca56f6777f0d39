from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "needlechart.accounts"
    label = "accounts"
    verbose_name = "Clinics and staff"
