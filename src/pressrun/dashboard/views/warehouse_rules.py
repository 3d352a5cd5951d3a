"""Integrations → Warehouses → a connection's carrier codes and Shipping Description
Transformer rules: the carrier-code table (a CSV upload `Carrier,Code,Description`,
previewed before it is imported), the rules that turn a cart's shipping description into
one of those codes, and a tester that shows which rule decides a description.

Every connection is looked up among the signed-in publisher's own (`owned_or_404`): another
publisher's connection, its codes, rules and uploads are a 404 whatever the method.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.forms import (
    CarrierCodesUploadForm,
    DescriptionRuleForm,
    DescriptionTryForm,
)
from pressrun.warehouses.carrier_codes import (
    CarrierCodesChanged,
    CarrierCodesInvalid,
    CodesUpload,
    DescriptionRuleInvalid,
    Rule,
    carrier_codes_confirm,
    carrier_codes_for,
    carrier_codes_upload,
    description_carrier_code,
    description_rule_create,
    description_rule_delete,
    description_rules_for,
    invalid,
)
from pressrun.warehouses.csv_files import MAX_FILE_BYTES
from pressrun.warehouses.models import DescriptionMatch, DescriptionRule, WarehouseConnection


def _connection_or_404(request: PublisherRequest, connection_id: int) -> WarehouseConnection:
    return owned_or_404(WarehouseConnection.objects.all(), request.publisher, id=connection_id)


def rule_text(rule: Rule) -> str:
    return f"description {DescriptionMatch(rule.match).label} “{rule.text}” → {rule.code}"


def _codes_page(
    request: PublisherRequest,
    connection: WarehouseConnection,
    *,
    form: CarrierCodesUploadForm | None = None,
    upload: CodesUpload | None = None,
    errors: CarrierCodesInvalid | None = None,
    status: int = 200,
) -> HttpResponse:
    preview = upload.preview if upload else None
    context: dict[str, Any] = {
        "section": "integrations",
        "connection": connection,
        "codes": list(carrier_codes_for(connection).items()),
        "form": form or CarrierCodesUploadForm(),
        "upload": upload.upload if upload else None,
        "preview": preview,
        "preview_rows": (
            [("added", c.code, None, c.after) for c in preview.added]
            + [("changed", c.code, c.before, c.after) for c in preview.changed]
            if preview
            else []
        ),
        "errors": errors,
    }
    return render(request, "dashboard/warehouse_carrier_codes.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def warehouse_carrier_codes(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """GET: the connection's carrier codes. POST `action=preview` with a file: its errors,
    or what importing it would change; POST `action=confirm` with `upload`: import it."""
    connection = _connection_or_404(request, connection_id)
    if request.method != "POST":
        return _codes_page(request, connection)
    here = reverse("dashboard:warehouse_carrier_codes", args=[connection.id])
    if request.POST.get("action") == "confirm":
        try:
            upload_id = int(request.POST.get("upload", ""))
        except ValueError:
            upload_id = 0
        try:
            preview = carrier_codes_confirm(connection_id=connection.id, upload_id=upload_id)
        except (CarrierCodesChanged, CarrierCodesInvalid) as exc:
            messages.error(request, f"Nothing was imported: {exc.message}")
            return HttpResponseRedirect(here)
        messages.success(
            request,
            f"Carrier codes imported: {len(preview.added)} added, {len(preview.changed)} "
            f"changed, {preview.unchanged} unchanged.",
        )
        return HttpResponseRedirect(here)
    form = CarrierCodesUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _codes_page(request, connection, form=form, status=400)
    data = form.cleaned_data["file"].read(MAX_FILE_BYTES + 1)
    upload = carrier_codes_upload(connection_id=connection.id, data=data)
    if not upload.parsed.ok:
        errors = invalid(upload.parsed)
        errors.message = errors.message.rstrip(".") + ". Fix them and upload it again."
        return _codes_page(request, connection, form=form, errors=errors, status=400)
    return _codes_page(request, connection, form=form, upload=upload)


@publisher_required
@require_http_methods(["GET", "POST"])
def warehouse_rules(request: PublisherRequest, connection_id: int) -> HttpResponse:
    """GET: the rules, and which rule decides a description given in `?description=`.
    POST: add a rule."""
    connection = _connection_or_404(request, connection_id)
    codes = carrier_codes_for(connection)
    choices = [
        (code, f"{code} — {row.carrier} {row.description}".strip()) for code, row in codes.items()
    ]
    form = DescriptionRuleForm(request.POST if request.method == "POST" else None, codes=choices)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                description_rule_create(connection_id=connection.id, **form.cleaned_data)
            except DescriptionRuleInvalid as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                shown = Rule(
                    match=form.cleaned_data["match"],
                    text=form.cleaned_data["text"],
                    code=form.cleaned_data["carrier_code"],
                )
                messages.success(request, f"Rule added: {rule_text(shown)}.")
                return HttpResponseRedirect(
                    reverse("dashboard:warehouse_rules", args=[connection.id])
                )
    try_form = DescriptionTryForm(request.GET if "description" in request.GET else None)
    transformed = None
    if try_form.is_bound and try_form.is_valid():
        transformed = description_carrier_code(
            connection_id=connection.id, description=try_form.cleaned_data["description"]
        )
    rules = description_rules_for(connection)
    context = {
        "section": "integrations",
        "connection": connection,
        "rules": [
            (rule, rule_text(rule), f"Delete the rule: {rule_text(rule)}?") for rule in rules
        ],
        "has_codes": bool(codes),
        "form": form,
        "try_form": try_form,
        "transformed": transformed,
        "transformed_rule": rule_text(transformed.rule) if transformed and transformed.rule else "",
        "transformed_code": codes.get(transformed.code)
        if transformed and transformed.code
        else None,
    }
    return render(request, "dashboard/warehouse_rules.html", context, status=status)


@publisher_required
@require_POST
def warehouse_rule_remove(
    request: PublisherRequest, connection_id: int, description_rule_id: int
) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    rule = DescriptionRule.objects.filter(
        id=description_rule_id, connection_id=connection.id
    ).first()
    if rule is None:
        raise Http404
    shown = Rule(match=rule.match, text=rule.text, code=rule.carrier_code.code)
    description_rule_delete(connection_id=connection.id, rule_id=rule.id)
    messages.success(request, f"Rule deleted: {rule_text(shown)}.")
    return HttpResponseRedirect(reverse("dashboard:warehouse_rules", args=[connection.id]))
