from django.urls import path

from customers import sync_views, views

app_name = "customers"

urlpatterns = [
    path("customers/", views.customer_list, name="list"),
    path("customers/new/", views.customer_create, name="create"),
    path("customers/export.csv", views.customer_export, name="export"),
    path("customers/sync/", sync_views.sync_page, name="sync"),
    path("customers/sync/now/", sync_views.sync_now, name="sync_now"),
    path("customers/import/", views.import_upload, name="import_upload"),
    path("customers/import/template.csv", views.import_template, name="import_template"),
    path("customers/import/<int:pk>/", views.import_detail, name="import_detail"),
    path("customers/import/<int:pk>/status/", views.import_status, name="import_status"),
    path("customers/<uuid:tenant_id>/", views.customer_detail, name="detail"),
    path("customers/<uuid:tenant_id>/edit/", views.customer_edit, name="edit"),
    path(
        "customers/<uuid:tenant_id>/subscriptions/new/",
        views.subscription_edit,
        name="subscription_create",
    ),
    path(
        "customers/<uuid:tenant_id>/subscriptions/<int:pk>/",
        views.subscription_edit,
        name="subscription_edit",
    ),
    path(
        "customers/<uuid:tenant_id>/relationships/new/",
        views.relationship_edit,
        name="relationship_create",
    ),
    path(
        "customers/<uuid:tenant_id>/relationships/<int:pk>/",
        views.relationship_edit,
        name="relationship_edit",
    ),
    path("expiring-access/", views.expiring_access, name="expiring_access"),
    path("expiring-access/sync/", views.gdap_sync_now, name="gdap_sync"),
]
