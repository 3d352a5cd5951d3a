from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from pressrun.accounts.models import LoginFailure, Publisher
from pressrun.accounts.services import (
    PublisherInvalid,
    publisher_rotate_cart_token,
    publisher_set_cart_credentials,
    publisher_set_password,
)
from pressrun.billing.services import CreditInvalid, ledger_adjust, ledger_credit
from pressrun.core.forms import MoneyField
from pressrun.core.money import format_money
from pressrun.core.sealed import hint


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


class PublisherAdminForm(forms.ModelForm[Publisher]):
    """The API key is write-only: blank keeps the stored one; it is sealed by the service."""

    oneshoppingcart_api_key = forms.CharField(
        label="1ShoppingCart merchant API key",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the stored key.",
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
            "shopify_webhook_key",
            "shopify_topics",
            "oneshoppingcart_merchant_id",
        )


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin[Publisher]):
    form = PublisherAdminForm
    list_display = ("id", "email", "company", "balance", "default_mail_method", "is_active")
    search_fields = ("=id", "email", "company")
    readonly_fields = (
        "id",
        "balance",
        "password",
        "created_at",
        "shopify_url",
        "samcart_url",
        "oneshoppingcart_url",
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
        "password",
        "created_at",
        "shopify_url",
        "shopify_webhook_key",
        "shopify_topics",
        "samcart_url",
        "oneshoppingcart_url",
        "oneshoppingcart_merchant_id",
        "stored_api_key",
        "oneshoppingcart_api_key",
    )
    actions = ["rotate_cart_token"]

    @admin.display(description="Shopify webhook URL (paste into Shopify)")
    def shopify_url(self, obj: Publisher) -> str:
        from pressrun.carts.selectors import shopify_webhook_url

        return shopify_webhook_url(obj) if obj.pk else ""

    @admin.display(description="SamCart Notify URL")
    def samcart_url(self, obj: Publisher) -> str:
        from pressrun.carts.selectors import samcart_notify_url

        return samcart_notify_url(obj) if obj.pk else ""

    @admin.display(description="1ShoppingCart Notification URL (test mode first)")
    def oneshoppingcart_url(self, obj: Publisher) -> str:
        from pressrun.carts.selectors import oneshoppingcart_notify_url

        if not obj.pk:
            return ""
        return oneshoppingcart_notify_url(obj, test=True, error_email=obj.error_recipient)

    @admin.display(description="stored 1ShoppingCart API key")
    def stored_api_key(self, obj: Publisher) -> str:
        return hint(obj.oneshoppingcart_api_key) or "(none)"

    def save_model(
        self, request: HttpRequest, obj: Publisher, form: forms.ModelForm[Publisher], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        new_key = form.cleaned_data.get("oneshoppingcart_api_key") or ""
        if new_key:
            try:
                publisher_set_cart_credentials(publisher=obj, oneshoppingcart_api_key=new_key)
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
    list_display = ("at", "email", "client_address")
    search_fields = ("email", "client_address")
    readonly_fields = ("at", "email", "client_address")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
