from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from pressrun.accounts.models import KnownSignInAddress, LoginFailure, Publisher
from pressrun.accounts.services import (
    PublisherInvalid,
    publisher_rotate_cart_token,
    publisher_set_cart_credentials,
    publisher_set_password,
)
from pressrun.billing.services import CreditInvalid, ledger_adjust, ledger_credit
from pressrun.core.forms import MoneyField
from pressrun.core.money import format_money
from pressrun.core.sealed import hint, mask_secrets


def _stored_secret_text(sealed: str, plain: str) -> str:
    if not sealed:
        return "(none)"
    return hint(plain) or "saved but unreadable (the field key changed): enter it again"


class CreditForm(forms.Form):
    amount = MoneyField(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"))
    description = forms.CharField(max_length=300, initial="Payment")


class AdjustmentForm(forms.Form):
    direction = forms.ChoiceField(
        choices=[
            ("credit", "Add to the balance"),
            ("debit", "Take from the balance (a refund paid back, a reversed payment)"),
        ],
        widget=forms.RadioSelect,
    )
    amount = MoneyField(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"))
    reason = forms.CharField(
        max_length=300, help_text="Shown to the publisher on the Billing page's ledger."
    )

    def signed_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        return -amount if self.cleaned_data["direction"] == "debit" else amount


class PasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)


def _secret_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only: leave blank to keep the saved value.",
    )


class PublisherAdminForm(forms.ModelForm[Publisher]):
    """The cart secrets are write-only, as on the dashboard: blank keeps the saved value, the
    clear box removes it, and the service stores them sealed. Nothing of a saved secret is ever
    put back into the form (see PublisherAdmin for what is shown)."""

    shopify_webhook_key = _secret_field("Shopify webhook signing key")
    clear_shopify_webhook_key = forms.BooleanField(
        label="Remove the saved Shopify signing key", required=False
    )
    shopify_admin_token = _secret_field("Shopify Admin API access token")
    clear_shopify_admin_token = forms.BooleanField(
        label="Remove the saved Shopify access token", required=False
    )
    oneshoppingcart_api_key = _secret_field("1ShoppingCart merchant API key")
    clear_oneshoppingcart_api_key = forms.BooleanField(
        label="Remove the saved 1ShoppingCart API key", required=False
    )

    class Meta:
        model = Publisher
        fields = (
            "email",
            "company",
            "default_mail_method",
            "customer_email_notifications",
            "customer_address_changes",
            "postage_delay_hours",
            "error_email",
            "customer_contact_email",
            "is_active",
            "shopify_topics",
            "shopify_notify_customer",
            "oneshoppingcart_merchant_id",
        )

    def _clean_secret(self, name: str) -> str:
        value: str = self.cleaned_data.get(name) or ""
        if any(c.isspace() for c in value):
            raise forms.ValidationError("A key has no spaces.", code="invalid")
        return value

    def clean_shopify_webhook_key(self) -> str:
        return self._clean_secret("shopify_webhook_key")

    def clean_shopify_admin_token(self) -> str:
        return self._clean_secret("shopify_admin_token")

    def clean_oneshoppingcart_api_key(self) -> str:
        return self._clean_secret("oneshoppingcart_api_key")

    def secret_change(self, name: str) -> str | None:
        """What to store for secret field `name`: None keeps it, "" removes it."""
        if self.cleaned_data.get(f"clear_{name}"):
            return ""
        return self.cleaned_data.get(name) or None


def masked_url(url: str, publisher: Publisher) -> str:
    """A cart URL with the publisher's cart token shown only as its hint."""
    return mask_secrets(url, [publisher.cart_token])


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin[Publisher]):
    """Secrets (the password hash, the cart token, the cart credentials) are shown only as
    hints (`core.sealed.hint`), like on the dashboard: an operator changes them, never reads
    them. The publisher copies the full cart URLs from the dashboard's Integrations page."""

    form = PublisherAdminForm
    list_display = ("id", "email", "company", "balance", "default_mail_method", "is_active")
    search_fields = ("=id", "email", "company")
    readonly_fields = (
        "id",
        "balance",
        "password_hint",
        "created_at",
        "shopify_url",
        "samcart_url",
        "oneshoppingcart_url",
        "stored_webhook_key",
        "stored_admin_token",
        "stored_api_key",
    )
    fields = (
        "id",
        "email",
        "company",
        "default_mail_method",
        "customer_email_notifications",
        "customer_address_changes",
        "postage_delay_hours",
        "error_email",
        "customer_contact_email",
        "is_active",
        "balance",
        "password_hint",
        "created_at",
        "shopify_url",
        "stored_webhook_key",
        "shopify_webhook_key",
        "clear_shopify_webhook_key",
        "shopify_topics",
        "stored_admin_token",
        "shopify_admin_token",
        "clear_shopify_admin_token",
        "shopify_notify_customer",
        "samcart_url",
        "oneshoppingcart_url",
        "oneshoppingcart_merchant_id",
        "stored_api_key",
        "oneshoppingcart_api_key",
        "clear_oneshoppingcart_api_key",
    )
    actions = ["rotate_cart_token"]

    @admin.display(description="password")
    def password_hint(self, obj: Publisher) -> str:
        if not obj.password:
            return "(none)"
        algorithm = obj.password.split("$", 1)[0]
        return f"{algorithm} hash {hint(obj.password)} (change it with Set password)"

    @admin.display(description="Shopify webhook URL (the token masked)")
    def shopify_url(self, obj: Publisher) -> str:
        from pressrun.carts.selectors import shopify_webhook_url

        return masked_url(shopify_webhook_url(obj), obj) if obj.pk else ""

    @admin.display(description="SamCart Notify URL (the token masked)")
    def samcart_url(self, obj: Publisher) -> str:
        from pressrun.carts.selectors import samcart_notify_url

        return masked_url(samcart_notify_url(obj), obj) if obj.pk else ""

    @admin.display(description="1ShoppingCart Notification URL (test mode, the token masked)")
    def oneshoppingcart_url(self, obj: Publisher) -> str:
        from pressrun.carts.selectors import oneshoppingcart_notify_url

        if not obj.pk:
            return ""
        url = oneshoppingcart_notify_url(obj, test=True, error_email=obj.error_recipient)
        return masked_url(url, obj)

    @admin.display(description="saved Shopify signing key")
    def stored_webhook_key(self, obj: Publisher) -> str:
        return _stored_secret_text(obj.shopify_webhook_key_sealed, obj.shopify_webhook_key)

    @admin.display(description="saved Shopify Admin API access token")
    def stored_admin_token(self, obj: Publisher) -> str:
        return _stored_secret_text(obj.shopify_admin_token_sealed, obj.shopify_admin_token)

    @admin.display(description="saved 1ShoppingCart API key")
    def stored_api_key(self, obj: Publisher) -> str:
        return _stored_secret_text(obj.oneshoppingcart_api_key_sealed, obj.oneshoppingcart_api_key)

    def save_model(
        self, request: HttpRequest, obj: Publisher, form: forms.ModelForm[Publisher], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        assert isinstance(form, PublisherAdminForm)
        try:
            publisher_set_cart_credentials(
                publisher=obj,
                shopify_webhook_key=form.secret_change("shopify_webhook_key"),
                shopify_admin_token=form.secret_change("shopify_admin_token"),
                oneshoppingcart_api_key=form.secret_change("oneshoppingcart_api_key"),
            )
        except PublisherInvalid as exc:
            self.message_user(request, str(exc), messages.ERROR)

    @admin.action(description="Rotate cart token (old webhook URLs stop working)")
    def rotate_cart_token(self, request: HttpRequest, queryset: QuerySet[Publisher]) -> None:
        publishers = list(queryset)
        for publisher in publishers:
            publisher_rotate_cart_token(publisher=publisher)
        self.message_user(
            request,
            f"New cart token for {len(publishers)} publisher(s); update their cart webhooks.",
            messages.WARNING,
        )

    change_form_template = "admin/accounts/publisher/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Publishers are created with a password: `pressrun createpublisher` or the sign-up.
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:publisher_id>/credit/",
                self.admin_site.admin_view(self.credit_view),
                name="accounts_publisher_credit",
            ),
            path(
                "<int:publisher_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="accounts_publisher_adjust",
            ),
            path(
                "<int:publisher_id>/password/",
                self.admin_site.admin_view(self.password_view),
                name="accounts_publisher_password",
            ),
        ]
        return own + super().get_urls()

    def credit_view(self, request: HttpRequest, publisher_id: int) -> HttpResponse:
        """Record a payment through the billing service, which also releases HOLD orders."""
        publisher = get_object_or_404(Publisher, id=publisher_id)
        if not self.has_change_permission(request, publisher):
            return HttpResponseRedirect(reverse("admin:index"))
        form = CreditForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = ledger_credit(
                    publisher_id=publisher.id,
                    amount=form.cleaned_data["amount"],
                    description=form.cleaned_data["description"],
                    actor=f"operator:{request.user}",
                )
            except CreditInvalid as exc:
                form.add_error("amount", str(exc))
            else:
                released = ", ".join(str(o.id) for o in result.released) or "none"
                self.message_user(
                    request,
                    f"Credited {format_money(result.entry.amount)}; balance "
                    f"{format_money(result.balance)}. Released HOLD orders: {released}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:accounts_publisher_change", args=[publisher.id])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Record a payment for {publisher}",
            "form": form,
            "publisher": publisher,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pressrun/simple_form.html", context)

    def adjust_view(self, request: HttpRequest, publisher_id: int) -> HttpResponse:
        """Adjust the balance either way with a reason, through the billing service, which
        also releases the HOLD orders a higher balance covers."""
        publisher = get_object_or_404(Publisher, id=publisher_id)
        if not self.has_change_permission(request, publisher):
            return HttpResponseRedirect(reverse("admin:index"))
        form = AdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = ledger_adjust(
                    publisher_id=publisher.id,
                    amount=form.signed_amount(),
                    reason=form.cleaned_data["reason"],
                    actor=f"operator:{request.user}",
                )
            except CreditInvalid as exc:
                form.add_error(None, exc.message)
            else:
                released = ", ".join(str(o.id) for o in result.released) or "none"
                self.message_user(
                    request,
                    f"Adjusted by {format_money(result.entry.amount)}; balance "
                    f"{format_money(result.balance)}. Released HOLD orders: {released}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:accounts_publisher_change", args=[publisher.id])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust the balance of {publisher} (now {format_money(publisher.balance)})",
            "form": form,
            "publisher": publisher,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pressrun/simple_form.html", context)

    def password_view(self, request: HttpRequest, publisher_id: int) -> HttpResponse:
        publisher = get_object_or_404(Publisher, id=publisher_id)
        if not self.has_change_permission(request, publisher):
            return HttpResponseRedirect(reverse("admin:index"))
        form = PasswordForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                publisher_set_password(publisher=publisher, password=form.cleaned_data["password"])
            except PublisherInvalid as exc:
                form.add_error("password", exc.message)
            else:
                self.message_user(request, "Password changed.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:accounts_publisher_change", args=[publisher.id])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Set the password of {publisher}",
            "form": form,
            "publisher": publisher,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pressrun/simple_form.html", context)


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin[LoginFailure]):
    """Read-only. The password digest is not shown: it identifies a tried password."""

    list_display = ("at", "realm", "login", "client_address", "checked")
    list_filter = ("realm",)
    search_fields = ("login", "client_address")
    fields = ("at", "realm", "login", "client_address", "checked")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(KnownSignInAddress)
class KnownSignInAddressAdmin(admin.ModelAdmin[KnownSignInAddress]):
    """Where accounts signed in from; delete one to let the throttle treat it as unknown."""

    list_display = ("login", "realm", "client_address", "first_seen", "last_seen")
    list_filter = ("realm",)
    search_fields = ("login", "client_address")
    readonly_fields = ("realm", "login", "client_address", "first_seen", "last_seen")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
