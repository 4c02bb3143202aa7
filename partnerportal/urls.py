from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("customers.api_urls")),
    path("", include("servicehealth.api.urls")),
    path("", include("incidents.api_urls")),
    path("", include("messagecenter.api_urls")),
    path("", include("servicerequests.api.urls")),
    path("", include("integrations.api.urls")),
    path("service-requests/callbacks/", include("servicerequests.callback_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        # Our page around Swagger UI: a language, a skip link and accessibility overrides.
        SpectacularSwaggerSplitView.as_view(
            url_name="api-v1:schema", template_name="api/swagger_ui.html"
        ),
        name="docs",
    ),
]

urlpatterns = [
    # First: PSA tools' polling makes most requests, and Django tries every pattern above the one
    # that matches (about a hundred page patterns, each kept in the match's ``tried`` list).
    path("api/v1/", include((api_v1, "api-v1"))),
    path("", include("core.urls")),
    path("", include("dashboard.urls")),
    path("", include("accounts.urls")),
    path("", include("microsoft.urls")),
    path("", include("sso.urls")),
    path("", include("customers.urls")),
    path("", include("servicehealth.urls")),
    path("", include("incidents.urls")),
    path("", include("messagecenter.urls")),
    path("", include("servicerequests.urls")),
    path("", include("integrations.urls")),
    # Staff sign in with the address they were invited with and cannot change it: allauth's page
    # for adding and switching addresses is not served (see accounts.views.no_email_management).
    path("accounts/email/", account_views.no_email_management),
    # allauth's OpenID Connect paths, with the id_token checks of sso.oidc: before allauth's own.
    path("accounts/oidc/<str:provider_id>/", include("sso.urls_oidc")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
if settings.DJANGO_ADMIN_ENABLED:
    # Off by default: not even its sign-in redirect is served (accounts.admin_site).
    urlpatterns.append(path("django-admin/", admin.site.urls))

handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
