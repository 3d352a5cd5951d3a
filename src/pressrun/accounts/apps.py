from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pressrun.accounts"
    label = "accounts"
    verbose_name = "Accounts"
