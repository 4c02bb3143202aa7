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
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
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
from accounts.models import ApiClient, User
from accounts.permissions import capability_required
from accounts.roles import Capability, Role


def _staff_queryset():
    return User.objects.staff_members().prefetch_related(
        Prefetch("groups", queryset=Group.objects.only("name"))
    )


def _error_text(exc):
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


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
        },
    )


@capability_required(Capability.MANAGE_STAFF)
def staff_invite(request):
    form = InviteStaffForm(request.POST or None, actor=request.user)
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
    form = StaffForm(request.POST or None, initial=initial, actor=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_staff(request, member, **form.cleaned_data)
        except (PermissionDenied, ValidationError) as exc:
            form.add_error("roles", _error_text(exc))
        else:
            messages.success(request, _("Saved %(name)s.") % {"name": member})
            return redirect("accounts:staff_list")
    return render(request, "accounts/staff_edit.html", {"form": form, "member": member})


@require_POST
@capability_required(Capability.MANAGE_STAFF)
def staff_set_active(request, pk, active):
    member = _get_staff_member(pk)
    try:
        services.set_staff_active(request, member, active=active)
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, _error_text(exc))
    else:
        if active:
            messages.success(request, _("%(name)s can sign in again.") % {"name": member})
        else:
            messages.success(
                request, _("%(name)s is deactivated and signed out.") % {"name": member}
            )
    return redirect("accounts:staff_edit", pk=member.pk)


@require_POST
@capability_required(Capability.MANAGE_STAFF)
def staff_resend_invitation(request, pk):
    member = _get_staff_member(pk)
    try:
        services.resend_invitation(request, member)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request, _("Invitation sent again to %(email)s.") % {"email": member.email}
        )
    return redirect("accounts:staff_edit", pk=member.pk)


def accept_invitation(request, uidb64, token):
    """Public: the link in the invitation email lets the person choose their password."""
    try:
        pk = force_str(urlsafe_base64_decode(uidb64))
        user = User.objects.staff_members().get(pk=pk, is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "accounts/invitation_invalid.html", status=400)
    form = SetPasswordForm(user, request.POST or None)
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
    form = ProfileForm(request.POST or None, instance=request.user)
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


@capability_required(Capability.MANAGE_INTEGRATIONS)
def api_client_list(request):
    clients = ApiClient.objects.select_related("created_by")
    return render(request, "accounts/api_client_list.html", {"clients": clients})


@capability_required(Capability.MANAGE_INTEGRATIONS)
def api_client_create(request):
    form = ApiClientForm(request.POST or None)
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
        request.POST or None, scopes=client.scopes, initial={"rate_limit": client.rate_limit}
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
