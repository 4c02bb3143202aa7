from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import force_str
from django.utils.http import urlencode, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import (
    ApiClientEditForm,
    ApiClientForm,
    InviteStaffForm,
    ProfileForm,
    StaffForm,
)
from accounts.mfa import has_authenticator, session_is_mfa_verified
from accounts.models import ApiClient, User
from accounts.permissions import capability_required
from accounts.roles import Capability, Role
from core.models import AuditEntry

# How many of the latest role changes the staff page shows Global admins.
RECENT_ROLE_CHANGES = 10


def _staff_queryset():
    return User.objects.staff_members().prefetch_related(
        Prefetch("groups", queryset=Group.objects.only("name"))
    )


def _error_text(exc):
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def _role_labels(values):
    return [str(Role(value).label) if value in Role.values else value for value in values]


def recent_role_changes(limit=RECENT_ROLE_CHANGES):
    """The latest ``staff.roles_changed`` audit entries: who changed whose roles, when, how."""
    entries = AuditEntry.objects.filter(action="staff.roles_changed").only(
        "created_at", "actor_email", "target_repr", "before", "after"
    )[:limit]
    changes = []
    for entry in entries:
        before = set((entry.before or {}).get("roles") or [])
        after = set((entry.after or {}).get("roles") or [])
        changes.append(
            {
                "at": entry.created_at,
                "actor": entry.actor_email,
                "member": entry.target_repr,
                "added": _role_labels(sorted(after - before)),
                "removed": _role_labels(sorted(before - after)),
            }
        )
    return changes


@capability_required(Capability.MANAGE_STAFF)
def staff_list(request):
    staff = _staff_queryset()
    query = request.GET.get("q", "").strip()
    if query:
        staff = staff.filter(Q(email__icontains=query) | Q(full_name__icontains=query))
    role = request.GET.get("role", "")
    if role in Role.values:
        staff = staff.filter(groups__name=role)
    status = request.GET.get("status", "")
    if status == "active":
        staff = staff.filter(is_active=True)
    elif status == "deactivated":
        staff = staff.filter(is_active=False)
    page = Paginator(staff.order_by("email"), 50).get_page(request.GET.get("page"))
    counts = User.objects.staff_members().aggregate(
        active=Count("pk", filter=Q(is_active=True)),
        deactivated=Count("pk", filter=Q(is_active=False)),
    )
    # Read from the audit log, so shown to those who may read it: Global admins.
    role_changes = (
        recent_role_changes() if request.user.has_capability(Capability.VIEW_AUDIT_LOG) else None
    )
    return render(
        request,
        "accounts/staff_list.html",
        {
            "page": page,
            "query": query,
            "role": role,
            "status": status,
            "roles": Role.choices,
            "counts": counts,
            "role_changes": role_changes,
        },
    )


@capability_required(Capability.MANAGE_STAFF)
def staff_invite(request):
    form = InviteStaffForm(request.POST if request.method == "POST" else None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invite_staff(request, **form.cleaned_data)
        except PermissionDenied as exc:
            form.add_error("roles", str(exc))
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": user.email})
            return redirect("accounts:staff_list")
    return render(request, "accounts/staff_invite.html", {"form": form})


def _get_staff_member(pk):
    return get_object_or_404(_staff_queryset(), pk=pk)


@capability_required(Capability.MANAGE_STAFF)
def staff_edit(request, pk):
    member = _get_staff_member(pk)
    initial = {"full_name": member.full_name, "roles": [role.value for role in member.roles]}
    form = StaffForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        actor=request.user,
        member=member,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_staff(request, member, **form.cleaned_data)
        except (PermissionDenied, ValidationError) as exc:
            form.add_error("roles", _error_text(exc))
        else:
            messages.success(request, _("Saved %(name)s.") % {"name": member})
            return redirect("accounts:staff_list")
    member_has_mfa = has_authenticator(member)
    return render(
        request,
        "accounts/staff_edit.html",
        {
            "form": form,
            "member": member,
            "member_has_mfa": member_has_mfa,
            "can_reset_mfa": member_has_mfa
            and member != request.user
            and services.is_global_admin(request.user),
        },
    )


def _staff_action(request, member, action, done_message, refusals=(ValidationError,)):
    """Run ``action()``; back on the member's page, say that it is done or why it was refused."""
    try:
        action()
    except refusals as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, done_message)
    return redirect("accounts:staff_edit", pk=member.pk)


@require_POST
@capability_required(Capability.MANAGE_STAFF)
def staff_set_active(request, pk, active):
    member = _get_staff_member(pk)
    if active:
        done = _("%(name)s can sign in again.") % {"name": member}
    else:
        done = _("%(name)s is deactivated and signed out.") % {"name": member}
    return _staff_action(
        request,
        member,
        lambda: services.set_staff_active(request, member, active=active),
        done,
        refusals=(PermissionDenied, ValidationError),
    )


@require_POST
@capability_required(Capability.MANAGE_STAFF)
def staff_mfa_reset(request, pk):
    """A Global admin removes someone's authenticators (a lost phone); not found for others."""
    if not services.is_global_admin(request.user):
        raise Http404
    member = _get_staff_member(pk)
    done = _(
        "Two-factor authentication of %(name)s is reset and they are signed out. "
        "They have been told by email."
    ) % {"name": member}
    return _staff_action(request, member, lambda: services.reset_mfa(request, member), done)


@require_POST
@capability_required(Capability.MANAGE_STAFF)
def staff_resend_invitation(request, pk):
    member = _get_staff_member(pk)
    done = _("Invitation sent again to %(email)s.") % {"email": member.email}
    return _staff_action(request, member, lambda: services.resend_invitation(request, member), done)


def accept_invitation(request, uidb64, token):
    """Public: the link in the invitation email lets the person choose their password."""
    try:
        pk = force_str(urlsafe_base64_decode(uidb64))
        user = User.objects.staff_members().get(pk=pk, is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "accounts/invitation_invalid.html", status=400)
    form = SetPasswordForm(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        services.accept_invitation(user, form.cleaned_data["new_password1"], request)
        messages.success(request, _("Your password is set. Sign in to continue."))
        return redirect("account_login")
    return render(request, "accounts/accept_invitation.html", {"form": form, "invitee": user})


def no_email_management(request):
    """Shadows allauth's email page: an address added there would become the sign-in address
    without verification or audit, and an unverified one would block two-factor set-up."""
    raise Http404


@capability_required(None)
def profile(request):
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = services.update_profile(request, form)
        messages.success(request, _("Your profile is saved."))
        response = redirect("accounts:profile")
        if user.language:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax")
        return response
    return render(request, "accounts/profile.html", {"form": form})


@require_POST
@capability_required(None)
def session_end(request, pk):
    """End one of your own other sessions; ending this one is signing out."""
    session = get_object_or_404(UserSession, pk=pk, user=request.user)
    if session.is_current():
        messages.error(request, _("This is the session you are using: sign out instead."))
    else:
        services.end_session(request, session)
        messages.success(request, _("That session is signed out."))
    return redirect("usersessions_list")


def _second_factor_needed(request, return_to):
    """With MFA_REQUIRED, API tokens are made only by a session signed in with its second
    factor: a stolen password alone must not yield a long-lived credential. Returns the page
    that sends the person to confirm with their authenticator, or None when they may go on."""
    if not settings.MFA_REQUIRED or session_is_mfa_verified(request):
        return None
    reauthenticate = f"{reverse('mfa_reauthenticate')}?{urlencode({'next': return_to})}"
    return render(
        request,
        "accounts/mfa_verification_required.html",
        {"reauthenticate_url": reauthenticate},
        status=403,
    )


@capability_required(Capability.MANAGE_INTEGRATIONS)
def api_client_list(request):
    clients = ApiClient.objects.select_related("created_by")
    return render(request, "accounts/api_client_list.html", {"clients": clients})


@capability_required(Capability.MANAGE_INTEGRATIONS)
def api_client_create(request):
    refusal = _second_factor_needed(request, reverse("accounts:api_client_create"))
    if refusal is not None:
        return refusal
    form = ApiClientForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        client, token = services.create_api_client(
            actor=request.user, request=request, **form.service_data()
        )
        # Shown once, on this response only; never stored in clear or put in the session.
        return render(request, "accounts/api_client_token.html", {"client": client, "token": token})
    return render(request, "accounts/api_client_form.html", {"form": form})


@capability_required(Capability.MANAGE_INTEGRATIONS)
def api_client_edit(request, pk):
    """Scopes, rate limit and tokens of one client."""
    client = get_object_or_404(ApiClient, pk=pk)
    form = ApiClientEditForm(
        request.POST if request.method == "POST" else None,
        scopes=client.scopes,
        initial={"rate_limit": client.rate_limit},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_api_client(request, client, **form.service_data())
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            messages.success(request, _("Saved %(name)s.") % {"name": client})
            return redirect("accounts:api_client_list")
    return render(
        request,
        "accounts/api_client_edit.html",
        {
            "client": client,
            "form": form,
            "tokens": [
                {
                    "prefix": token.token_key[: services.TOKEN_PREFIX_SHOWN],
                    "created": token.created,
                    "expiry": token.expiry,
                }
                for token in services.live_tokens(client)
            ],
            "grace_hours": settings.API_TOKEN_ROTATION_GRACE_HOURS,
        },
    )


@require_POST
@capability_required(Capability.MANAGE_INTEGRATIONS)
def api_client_rotate(request, pk):
    client = get_object_or_404(ApiClient, pk=pk)
    refusal = _second_factor_needed(request, reverse("accounts:api_client_edit", args=[client.pk]))
    if refusal is not None:
        return refusal
    try:
        token, grace_ends = services.rotate_api_client_token(request, client)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("accounts:api_client_edit", pk=client.pk)
    # Shown once, like a new client's first token.
    return render(
        request,
        "accounts/api_client_token.html",
        {"client": client, "token": token, "grace_ends": grace_ends},
    )


@require_POST
@capability_required(Capability.MANAGE_INTEGRATIONS)
def api_client_revoke(request, pk):
    client = get_object_or_404(ApiClient, pk=pk)
    services.revoke_api_client(request, client)
    messages.success(
        request, _("%(name)s is revoked; its tokens no longer work.") % {"name": client}
    )
    return redirect("accounts:api_client_list")
