from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import ApiClient, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Operators' view; staff are managed on the portal's Staff page, which writes the audit log."""

    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_api_client", "last_login"]
    list_filter = ["is_active", "is_api_client", "groups"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["last_login", "date_joined", "is_api_client"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name", "language"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    filter_horizontal = ["groups"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "scopes", "rate_limit", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "created_by", "created_at", "last_used_at", "revoked_at"]
