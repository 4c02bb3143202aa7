from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group

from accounts.models import ApiClient, User

# Roles are Django groups whose permissions are the matrix in accounts.roles (sync_roles writes
# them): editing a group here would change what a role may do behind the code's back.
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Staff are managed on the portal's Staff page; this is the Global admins' raw view."""

    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_api_client", "last_login"]
    list_filter = ["is_active", "is_api_client", "groups"]
    search_fields = ["email", "full_name"]
    # is_staff opens nothing (accounts.admin_site); is_superuser would grant every capability without
    # a role, unseen on the Staff page: neither is set here. Roles (groups) change only on the
    # Staff page, whose rules (nobody changes their own, only Global admins grant Global admin)
    # and role-change audit this page would bypass.
    readonly_fields = [
        "last_login",
        "date_joined",
        "is_api_client",
        "is_staff",
        "is_superuser",
        "groups",
    ]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name", "language"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "scopes", "rate_limit", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "created_by", "created_at", "last_used_at", "revoked_at"]
