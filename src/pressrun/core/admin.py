from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from pressrun.core.models import Installation, WorkerHeartbeat
from pressrun.core.selectors import BaseUrlOrigin, public_base_url_reading
from pressrun.core.services import (
    MAX_PUBLIC_BASE_URL_LENGTH,
    PublicBaseUrlInvalid,
    installation_set_public_base_url,
)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("worker_id", "hostname", "pid", "started_at", "last_seen")
    readonly_fields = list_display


class PublicBaseUrlForm(forms.Form):
    public_base_url = forms.CharField(
        label="Public base URL",
        required=False,
        max_length=MAX_PUBLIC_BASE_URL_LENGTH,
        widget=forms.TextInput(attrs={"size": 60, "placeholder": "https://orders.example.com"}),
        help_text="Where carts, customers and publishers reach this installation: the start of "
        "every cart URL, email link and URL a command prints. Blank: the address pressrun "
        "serve last started on.",
    )


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin[Installation]):
    """The installation's settings: one page with one form (there is only ever one row)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Installation | None = None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:core_installation_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        installation = Installation.objects.filter(id=1).first()
        saved = installation.public_base_url if installation is not None else ""
        form = PublicBaseUrlForm(request.POST or None, initial={"public_base_url": saved})
        if request.method == "POST":
            if not self.has_change_permission(request):
                return HttpResponseRedirect(reverse("admin:index"))
            if form.is_valid():
                try:
                    changed = installation_set_public_base_url(
                        url=form.cleaned_data["public_base_url"], actor=f"operator:{request.user}"
                    )
                except PublicBaseUrlInvalid as exc:
                    form.add_error("public_base_url", exc.message)
                else:
                    reading = public_base_url_reading()
                    text = (
                        f"Saved the public base URL {changed.public_base_url}."
                        if changed.public_base_url
                        else "Cleared the saved public base URL."
                    )
                    self.message_user(
                        request,
                        f"{text} URLs now start with {reading.url} ({reading.origin_label}).",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:core_installation_changelist"))
        reading = public_base_url_reading()
        intro = f"In use now: {reading.url} ({reading.origin_label})."
        if reading.origin == BaseUrlOrigin.ENVIRONMENT:
            intro += (
                " The environment variable overrides what is saved here; unset it for this "
                "setting to apply."
            )
        if installation is not None and installation.served_address:
            intro += f" pressrun serve last started on {installation.served_address}."
        context = {
            **self.admin_site.each_context(request),
            "title": "Installation settings",
            "intro": intro,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pressrun/simple_form.html", context)
