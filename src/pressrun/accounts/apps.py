from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "pressrun.accounts"
    label = "accounts"
    verbose_name = "Accounts"


class OperatorAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the operators' site (sign-in throttled, accounts/admin_site.py).

    Named explicitly in INSTALLED_APPS instead of `django.contrib.admin`; `default = False`
    keeps it from being taken for the accounts app's own configuration (and Django's own
    AdminConfig is reached through its module, so it is not a candidate either)."""

    default = False
    default_site = "pressrun.accounts.admin_site.OperatorAdminSite"
