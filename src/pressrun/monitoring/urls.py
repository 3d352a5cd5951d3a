from django.urls import path

from pressrun.monitoring import views

# Mounted at the site's root (pressrun/urls.py): probes and scrapers expect these paths.
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    # The older name of /healthz, which load balancers and scripts already ask for.
    path("health", views.healthz, name="health"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]
