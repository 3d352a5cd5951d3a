"""Shipping rules: how a cart's shipping description becomes a mail method. The publisher's
own rules ("is" / "starts with") are tried first, in their order; then the keyword rule of the
specs ("express" anywhere, else "priority"); else the cart's default (the publisher's default
mail method; standard + tracking for 1ShoppingCart)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pressrun.accounts.models import MailMethod
from pressrun.carts.models import ShippingRule
from pressrun.carts.selectors import shipping_rules_for
from pressrun.carts.services import ShippingRuleInvalid, shipping_rule_create, shipping_rule_delete
from pressrun.carts.shipping import shipping_reading
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.forms import ShippingRuleForm, ShippingTryForm


@publisher_required
@require_http_methods(["GET", "POST"])
def shipping_rules(request: PublisherRequest) -> HttpResponse:
    """GET: the rules, and what a description given in `?description=` would ship by.
    POST: add a rule after the others."""
    publisher = request.publisher
    form = ShippingRuleForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                rule = shipping_rule_create(publisher=publisher, **form.cleaned_data)
            except ShippingRuleInvalid as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Rule added: {_rule_text(rule)}.")
                return HttpResponseRedirect(reverse("dashboard:shipping_rules"))
    try_form = ShippingTryForm(request.GET if "description" in request.GET else None)
    reading = None
    if try_form.is_bound and try_form.is_valid():
        reading = shipping_reading(
            publisher=publisher, description=try_form.cleaned_data["description"]
        )
    context = {
        "section": "integrations",
        "rules": [
            (rule, _rule_text(rule), f"Delete the rule: {_rule_text(rule)}?")
            for rule in shipping_rules_for(publisher)
        ],
        "form": form,
        "try_form": try_form,
        "reading": reading,
        "reading_rule": _rule_text(reading.rule) if reading and reading.rule else "",
        "reading_method": MailMethod(reading.mail_method).label if reading else "",
    }
    return render(request, "dashboard/shipping_rules.html", context, status=status)


@publisher_required
@require_POST
def shipping_rule_remove(request: PublisherRequest, rule_id: int) -> HttpResponse:
    rule = owned_or_404(ShippingRule.objects.all(), request.publisher, id=rule_id)
    shipping_rule_delete(publisher=request.publisher, rule_id=rule.id)
    messages.success(request, f"Rule deleted: {_rule_text(rule)}.")
    return HttpResponseRedirect(reverse("dashboard:shipping_rules"))


def _rule_text(rule: ShippingRule) -> str:
    return (
        f"description {rule.get_match_display()} '{rule.text}' → {rule.get_mail_method_display()}"
    )
