from django.contrib import admin

from pressrun.catalog.models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ("id", "title", "publisher", "media", "packaging", "price", "is_active")
    list_filter = ("media", "packaging", "is_active")
    search_fields = ("=id", "title", "publisher__email", "ecommerce_ids")
    raw_id_fields = ("publisher",)
    readonly_fields = ("created_at",)
