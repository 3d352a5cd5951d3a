from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "pressrun.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from pressrun.accounts.services import (
            known_sign_in_addresses_delete_expired,
            login_failures_delete_expired,
            password_reset_requests_delete_expired,
        )
        from pressrun.core.tasks import register_housekeeping

        register_housekeeping("login_failures", login_failures_delete_expired)
        register_housekeeping("known_sign_in_addresses", known_sign_in_addresses_delete_expired)
        register_housekeeping("password_reset_requests", password_reset_requests_delete_expired)


class OperatorAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the operators' site (sign-in throttled, accounts/admin_site.py).

    Named explicitly in INSTALLED_APPS instead of `django.contrib.admin`; `default = False`
    keeps it from being taken for the accounts app's own configuration (and Django's own
    AdminConfig is reached through its module, so it is not a candidate either)."""

    default = False
    default_site = "pressrun.accounts.admin_site.OperatorAdminSite"
