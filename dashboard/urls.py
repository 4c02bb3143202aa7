from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dashboard, name="index"),
    path("events/", views.events, name="events"),
    path("audit-log/", views.audit_log, name="audit_log"),
    path("audit-log/export.csv", views.audit_log_export, name="audit_log_export"),
]
