from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "pressrun.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from pressrun.accounts.services import login_failures_delete_expired
        from pressrun.core.tasks import register_housekeeping

        register_housekeeping("login_failures", login_failures_delete_expired)
