from django.contrib import admin

from pressrun.core.models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("worker_id", "hostname", "pid", "started_at", "last_seen")
    readonly_fields = list_display
