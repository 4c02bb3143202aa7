from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/invite/", views.staff_invite, name="staff_invite"),
    path("staff/<int:pk>/", views.staff_edit, name="staff_edit"),
    path(
        "staff/<int:pk>/deactivate/",
        views.staff_set_active,
        {"active": False},
        name="staff_deactivate",
    ),
    path(
        "staff/<int:pk>/reactivate/",
        views.staff_set_active,
        {"active": True},
        name="staff_reactivate",
    ),
    path("staff/<int:pk>/resend-invitation/", views.staff_resend_invitation, name="staff_resend"),
    path("staff/<int:pk>/reset-mfa/", views.staff_mfa_reset, name="staff_mfa_reset"),
    path(
        "invitation/<str:uidb64>/<str:token>/",
        views.accept_invitation,
        name="accept_invitation",
    ),
    path("profile/", views.profile, name="profile"),
    path("sessions/<int:pk>/end/", views.session_end, name="session_end"),
    path("api-clients/", views.api_client_list, name="api_client_list"),
    path("api-clients/new/", views.api_client_create, name="api_client_create"),
    path("api-clients/<int:pk>/", views.api_client_edit, name="api_client_edit"),
    path("api-clients/<int:pk>/rotate/", views.api_client_rotate, name="api_client_rotate"),
    path("api-clients/<int:pk>/revoke/", views.api_client_revoke, name="api_client_revoke"),
]
