from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    # Outbound webhooks (Global admins): subscriptions and their delivery log.
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path(
        "webhooks/<int:pk>/rotate-secret/",
        views.webhook_rotate_secret,
        name="webhook_rotate_secret",
    ),
    path("webhooks/<int:pk>/toggle/", views.webhook_toggle, name="webhook_toggle"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_pk>/",
        views.delivery_detail,
        name="delivery_detail",
    ),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_pk>/redeliver/",
        views.delivery_redeliver,
        name="delivery_redeliver",
    ),
    # PSA connections (Global admins) and each customer's company id in them.
    path("psa-connections/", views.psa_list, name="psa_list"),
    path("psa-connections/new/", views.psa_create, name="psa_create"),
    path("psa-connections/<int:pk>/", views.psa_edit, name="psa_edit"),
    path(
        "customers/<uuid:tenant_id>/psa-companies/",
        views.customer_psa_companies,
        name="customer_psa_companies",
    ),
]
