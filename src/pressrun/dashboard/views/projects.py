"""Projects: the list (project IDs next to titles), creating and editing a project, and the
live check of an eCommerce ID String."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from pressrun.catalog import selectors as catalog
from pressrun.catalog.models import Media, Project
from pressrun.catalog.services import (
    ProjectIdsShared,
    ProjectInvalid,
    project_create,
    project_update,
)
from pressrun.dashboard.auth import PublisherRequest, owned_or_404, publisher_required
from pressrun.dashboard.project_forms import ProjectForm

PROJECTS_PAGE_SIZE = 50


@publisher_required
@require_GET
def project_list(request: PublisherRequest) -> HttpResponse:
    paginator = Paginator(
        catalog.projects_for_publisher(publisher_id=request.publisher.id), PROJECTS_PAGE_SIZE
    )
    context = {"section": "projects", "projects": paginator.get_page(request.GET.get("page"))}
    return render(request, "dashboard/projects/list.html", context)


def _show_refusal(form: ProjectForm, exc: ProjectInvalid) -> None:
    if isinstance(exc, ProjectIdsShared):
        form.ask_to_confirm_shared_ids(exc.message)
        return
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _render_form(
    request: PublisherRequest, form: ProjectForm, project: Project | None, *, status: int = 200
) -> HttpResponse:
    text = form["ecommerce_ids"].value() or ""
    context = {
        "section": "projects",
        "form": form,
        "project": project,
        "check": catalog.ecommerce_ids_check(
            publisher_id=request.publisher.id,
            text=str(text),
            project_id=project.id if project else None,
        ),
        "standard_prices": [
            (media.label, catalog.project_standard_price(media=media)) for media in Media
        ],
        "standard_price": catalog.project_has_standard_price(project=project) if project else True,
    }
    return render(request, "dashboard/projects/form.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def project_new(request: PublisherRequest) -> HttpResponse:
    """Create a project at its media's standard price (operators may set another)."""
    form = ProjectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = project_create(
                publisher=request.publisher,
                title=data["title"],
                media=data["media"],
                packaging=data["packaging"],
                price=catalog.project_standard_price(media=data["media"]),
                special_text=data["special_text"],
                ecommerce_ids=data["ecommerce_ids"],
                confirm_shared_ids=data["confirm_shared_ids"],
            )
        except ProjectInvalid as exc:
            _show_refusal(form, exc)
        else:
            messages.success(
                request,
                f"Project “{project.title}” is created; its project ID is {project.id}.",
            )
            return HttpResponseRedirect(reverse("dashboard:project_edit", args=[project.id]))
    status = 400 if form.is_bound else 200
    return _render_form(request, form, None, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def project_edit(request: PublisherRequest, project_id: int) -> HttpResponse:
    project = owned_or_404(Project.objects.all(), request.publisher, id=project_id)
    if request.method == "GET":
        form = ProjectForm(
            project_id=project.id,
            initial={
                "title": project.title,
                "media": project.media,
                "packaging": project.packaging,
                "special_text": project.special_text,
                "ecommerce_ids": project.ecommerce_ids,
            },
        )
        return _render_form(request, form, project)
    form = ProjectForm(request.POST, project_id=project.id)
    if form.is_valid():
        data = form.cleaned_data
        try:
            project_update(
                project=project,
                title=data["title"],
                media=data["media"],
                packaging=data["packaging"],
                price=catalog.project_price_for_media(project=project, media=data["media"]),
                special_text=data["special_text"],
                ecommerce_ids=data["ecommerce_ids"],
                confirm_shared_ids=data["confirm_shared_ids"],
            )
        except ProjectInvalid as exc:
            _show_refusal(form, exc)
        else:
            messages.success(request, f"Project {project.id} “{project.title}” is saved.")
            return HttpResponseRedirect(reverse("dashboard:project_edit", args=[project.id]))
    return _render_form(request, form, project, status=400)


@publisher_required
@require_GET
def ecommerce_ids_check(request: PublisherRequest) -> HttpResponse:
    """The parsed IDs of `ecommerce_ids` and the publisher's other projects they also order
    (for project `project`, when given and the publisher's), as an HTML fragment."""
    project_id: int | None = None
    candidate = request.GET.get("project", "")
    if candidate.isascii() and candidate.isdigit() and len(candidate) <= 18:
        project_id = (
            Project.objects.filter(publisher=request.publisher, id=int(candidate))
            .values_list("id", flat=True)
            .first()
        )
    check = catalog.ecommerce_ids_check(
        publisher_id=request.publisher.id,
        text=request.GET.get("ecommerce_ids", ""),
        project_id=project_id,
    )
    return render(request, "dashboard/projects/ecommerce_ids_check.html", {"check": check})
