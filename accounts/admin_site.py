"""Django's admin site (``/django-admin/``, only when ``DJANGO_ADMIN_ENABLED``), held to the
portal's rules.

It has no sign-in of its own: its login page sends people to the portal's (MFA, rate limits,
lockout, sign-in audit). It admits only active Global admins whose session was signed in with a
second factor; Django's ``is_staff`` and ``is_superuser`` flags open nothing. Everyone else
signed in gets 403. Every change made through it (add, change, delete, bulk actions) is written
to the portal's audit log, as ``django_admin.<added|changed|deleted|action>``.
"""

from functools import wraps

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from accounts.mfa import is_signed_in_person, session_is_mfa_verified
from accounts.roles import Role
from core import audit
from core.redirects import safe_next_url


class AuditedModelAdmin(admin.ModelAdmin):
    """The base of every model's admin on this site (``PortalAdminSite.register`` puts it in):
    whom the site admits may use it, and every change lands in the audit log."""

    def has_module_permission(self, request):
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request):
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

    # Django's change messages name the fields that changed, never their values: no password
    # hash or secret reaches the audit log this way.
    def log_addition(self, request, obj, message):
        after = {"changes": message}
        audit.record_change(request.user, "django_admin.added", obj, None, after, request)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        after = {"changes": message}
        audit.record_change(request.user, "django_admin.changed", obj, None, after, request)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        # Called just before the rows are deleted, one by one or in bulk.
        audit.record_many(
            actor=request.user,
            action="django_admin.deleted",
            entries=[(obj, None, None) for obj in queryset],
            request=request,
        )
        return super().log_deletions(request, queryset)

    def response_action(self, request, queryset):
        # Bulk actions are not atomic in Django: their audit entries and changes commit together.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().response_action(request, queryset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            key: (func if name == "delete_selected" else _audited(func, name), name, description)
            for key, (func, name, description) in actions.items()
        }


def _audited(action, name):
    """An admin action that records the objects it ran on (they may change without a save, as
    with ``queryset.update``). delete_selected is left alone: log_deletions records it."""

    @wraps(action)
    def run(modeladmin, request, queryset):
        targets = list(queryset)
        response = action(modeladmin, request, queryset)
        # An answer of its own is a confirmation page or a download: nothing was done yet.
        if response is None:
            audit.record_many(
                actor=request.user,
                action="django_admin.action_run",
                entries=[(target, None, {"action": name}) for target in targets],
                request=request,
            )
        return response

    return run


class PortalAdminSite(admin.AdminSite):
    """The site behind ``admin.site`` (accounts.admin_apps makes it the default one)."""

    def register(self, model_or_iterable, admin_class=None, **options):
        if admin_class is None or admin_class is admin.ModelAdmin:
            admin_class = AuditedModelAdmin
        elif not issubclass(admin_class, AuditedModelAdmin):
            # Every registration, Django's and allauth's too. Listed after the class itself,
            # AuditedModelAdmin lands right above ModelAdmin in the method order: the class's own
            # overrides still win (the audit log stays read-only), ModelAdmin's defaults do not.
            admin_class = type(
                admin_class.__name__,
                (admin_class, AuditedModelAdmin),
                {"__module__": admin_class.__module__},
            )
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request):
        user = request.user
        return (
            is_signed_in_person(user)
            and user.is_active
            and Role.GLOBAL_ADMIN in user.roles
            and session_is_mfa_verified(request)
        )

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not self.has_permission(request):
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path(), reverse("account_login"))
                # Signed in, but not a Global admin signed in with a second factor. Not sent to
                # sign in again: the portal's sign-in would let them straight back here.
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return guarded

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        """No form of its own, for GET or POST: the portal's sign-in, then back here."""
        index = reverse("admin:index", current_app=self.name)
        next_url = safe_next_url(request, request.GET.get(REDIRECT_FIELD_NAME), index)
        if not request.user.is_authenticated:
            return redirect_to_login(next_url, reverse("account_login"))
        if not self.has_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(next_url)

    def logout(self, request, extra_context=None):
        # allauth's, which ends the portal session the way every other sign-out does.
        return HttpResponseRedirect(reverse("account_logout"))

    def password_change(self, request, extra_context=None):
        # allauth's, which asks for the current password and signs other sessions out.
        return HttpResponseRedirect(reverse("account_change_password"))

    def password_change_done(self, request, extra_context=None):
        return HttpResponseRedirect(reverse("account_change_password"))
