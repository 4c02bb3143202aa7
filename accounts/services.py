"""Changes to staff, roles and API clients. Each writes its audit entry in the same transaction."""

import secrets
from datetime import timedelta

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from knox.models import AuthToken

from accounts import scopes as api_scopes
from accounts import token_cache
from accounts.models import ApiClient, User, validate_rate
from accounts.roles import Role
from core import audit
from core.events import absolute_url

# How much of a token the UI and the audit log show: enough to tell tokens apart, no more.
TOKEN_PREFIX_SHOWN = 8


def staff_snapshot(user):
    return {
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "roles": sorted(role.value for role in user.roles),
    }


def is_global_admin(user):
    return user.is_superuser or Role.GLOBAL_ADMIN in user.roles


def _check_may_manage(actor, target_roles, new_roles=()):
    """Only a Global admin may grant, revoke or manage the Global admin role."""
    touches_global = Role.GLOBAL_ADMIN in set(target_roles) | set(new_roles)
    if touches_global and not is_global_admin(actor):
        raise PermissionDenied(_("Only a Global admin can grant, change or remove Global admins."))


def _active_global_admins():
    return User.objects.staff_members().filter(is_active=True, groups__name=Role.GLOBAL_ADMIN)


def end_session(request, session):
    """Sign one of the user's browsers out (a lost laptop), audited."""
    session.end()
    audit.record(
        actor=getattr(request, "user", None),
        action="staff.session_ended",
        target=request.user,
        before={"ip": session.ip, "user_agent": session.user_agent[:200]},
        request=request,
    )


def _check_keeps_a_global_admin(user, new_roles=None, deactivating=False):
    """Refuse to remove the last active Global admin: nobody could manage the portal after it."""
    if Role.GLOBAL_ADMIN not in user.roles or not user.is_active:
        return
    losing = deactivating or (new_roles is not None and Role.GLOBAL_ADMIN not in new_roles)
    if losing and not _active_global_admins().exclude(pk=user.pk).exists():
        raise ValidationError(_("This is the last active Global admin; keep at least one."))


def _set_roles(user, roles):
    user.groups.set(Group.objects.filter(name__in=[Role(role).value for role in roles]))


def invitation_url(user):
    path = reverse(
        "accounts:accept_invitation",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    # On the configured address, never the request's Host header: anyone can send a request
    # with another Host and have the portal mail a link to their own server.
    return absolute_url(path)


def send_staff_email(user, event, context):
    """Email ``user`` the ``emails/<event>-subject/-body-text/-body-html`` templates, in their
    language."""
    context = {**context, "user": user, "site_name": settings.MFA_TOTP_ISSUER}
    with translation.override(user.language or translation.get_language()):
        subject = render_to_string(f"emails/{event}-subject.txt", context).strip()
        body = render_to_string(f"emails/{event}-body-text.txt", context)
        html = render_to_string(f"emails/{event}-body-html.html", context)
    send_mail(subject, body, None, [user.email], html_message=html)


def send_invitation(request, user, invited_by):
    send_staff_email(user, "invitation", {"invited_by": invited_by, "url": invitation_url(user)})


@transaction.atomic
def invite_staff(request, *, email, full_name, roles, language=""):
    actor = request.user
    _check_may_manage(actor, (), roles)
    user = User.objects.create_user(email=email, full_name=full_name, language=language)
    _set_roles(user, roles)
    audit.record_change(actor, "staff.invited", user, None, staff_snapshot(user), request)
    # The email leaves only when the invitation is committed.
    transaction.on_commit(lambda: send_invitation(request, user, actor))
    return user


@transaction.atomic
def resend_invitation(request, user):
    if not user.is_invited or not user.is_active:
        raise ValidationError(_("Only pending invitations can be sent again."))
    audit.record(actor=request.user, action="staff.invitation_resent", target=user, request=request)
    transaction.on_commit(lambda: send_invitation(request, user, request.user))


@transaction.atomic
def update_staff(request, user, *, full_name, roles):
    actor = request.user
    roles = [Role(role) for role in roles]
    if user == actor and set(roles) != set(user.roles):
        # Not even a Global admin: every role change is made by a second person, and audited.
        raise ValidationError(_("You cannot change your own roles; another administrator can."))
    _check_may_manage(actor, user.roles, roles)
    _check_keeps_a_global_admin(user, new_roles=roles)
    before = staff_snapshot(user)
    user.full_name = full_name
    user.save(update_fields=["full_name"])
    _set_roles(user, roles)
    after = staff_snapshot(user)
    audit.record_change(
        actor,
        "staff.roles_changed" if before["roles"] != after["roles"] else "staff.updated",
        user,
        before,
        after,
        request,
    )
    return user


@transaction.atomic
def set_staff_active(request, user, *, active):
    actor = request.user
    _check_may_manage(actor, user.roles)
    if user == actor:
        raise ValidationError(_("You cannot deactivate your own account."))
    if user.is_active == active:
        return user
    if not active:
        _check_keeps_a_global_admin(user, deactivating=True)
    before = staff_snapshot(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        # Sign the person out everywhere, now.
        for session in UserSession.objects.filter(user=user):
            session.end()
    audit.record(
        actor=actor,
        action="staff.reactivated" if active else "staff.deactivated",
        target=user,
        before=before,
        after=staff_snapshot(user),
        request=request,
    )
    return user


def send_mfa_reset_notice(user, reset_by):
    send_staff_email(
        user,
        "mfa-reset",
        {
            "reset_by": reset_by,
            "sign_in_url": absolute_url(reverse("account_login")),
            "mfa_required": settings.MFA_REQUIRED,
        },
    )


@transaction.atomic
def reset_mfa(request, user):
    """A Global admin removes a person's authenticators (a lost phone) and signs them out.

    With MFA_REQUIRED they set up a new authenticator at their next sign-in.
    """
    actor = request.user
    if not is_global_admin(actor):
        raise PermissionDenied(_("Only a Global admin can reset two-factor authentication."))
    if user == actor:
        raise ValidationError(_("You cannot reset your own two-factor authentication."))
    authenticators = Authenticator.objects.filter(user=user)
    types = sorted(authenticators.values_list("type", flat=True))
    if not types:
        raise ValidationError(_("This person has no two-factor authentication to reset."))
    # A plain delete: allauth's removal signal would audit it as the person's own doing.
    authenticators.delete()
    for session in UserSession.objects.filter(user=user):
        session.end()
    audit.record(
        actor=actor,
        action="staff.mfa_reset",
        target=user,
        before={"authenticators": types},
        after={"authenticators": []},
        request=request,
    )
    transaction.on_commit(lambda: send_mfa_reset_notice(user, actor))
    return user


@transaction.atomic
def accept_invitation(user, password, request=None):
    before = staff_snapshot(user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(
        actor=user, action="staff.invitation_accepted", target=user, before=before, request=request
    )


@transaction.atomic
def update_profile(request, form):
    """A person's own name and language."""
    # The bound form has already copied the new values onto the instance: take "before" from it.
    before = {"full_name": form.initial["full_name"], "language": form.initial["language"]}
    user = form.save()
    after = {"full_name": user.full_name, "language": user.language}
    audit.record_change(user, "staff.profile_updated", user, before, after, request)
    return user


def api_client_snapshot(client):
    return {
        "name": client.name,
        "role": client.role,
        "scopes": client.scopes,
        "rate_limit": client.rate_limit,
        "revoked": client.is_revoked,
    }


def _validated_scopes(scopes):
    """The canonical scope list; "read" / "write" alone mean that level on every resource."""
    normalized = api_scopes.normalize(scopes)
    if not normalized:
        raise ValidationError(_("Give the client at least one scope."), code="no_scope")
    return normalized


@transaction.atomic
def create_api_client(*, name, role, scopes, rate_limit="", actor=None, request=None):
    """Create the client and its first token. Returns ``(client, token)``; the token is shown once."""
    role = Role(role)
    scopes = _validated_scopes(scopes)
    validate_rate(rate_limit)
    user = User.objects.create_user(
        email=f"api-client-{secrets.token_hex(8)}@api-clients.invalid",
        full_name=name,
        is_api_client=True,
    )
    _set_roles(user, [role])
    client = ApiClient.objects.create(
        name=name,
        user=user,
        role=role,
        scopes=scopes,
        rate_limit=rate_limit,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    _instance, token = AuthToken.objects.create(user=user, expiry=None)
    audit.record_change(
        actor, "api_client.created", client, None, api_client_snapshot(client), request
    )
    return client, token


def _check_not_revoked(client):
    if client.is_revoked:
        raise ValidationError(_("This API client is revoked; create a new one instead."))


@transaction.atomic
def update_api_client(request, client, *, scopes, rate_limit=""):
    """Change a client's scopes and rate limit; its tokens keep working with the new scopes."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    _check_not_revoked(client)
    validate_rate(rate_limit)
    before = api_client_snapshot(client)
    client.scopes = _validated_scopes(scopes)
    client.rate_limit = rate_limit
    client.save(update_fields=["scopes", "rate_limit"])
    after = api_client_snapshot(client)
    audit.record_change(request.user, "api_client.updated", client, before, after, request)
    return client


def live_tokens(client, now=None):
    """The client's tokens that still work, newest first."""
    now = now or timezone.now()
    return (
        AuthToken.objects.filter(user=client.user)
        .filter(Q(expiry__isnull=True) | Q(expiry__gt=now))
        .order_by("-created", "token_key")
    )


def token_snapshot(token):
    return {
        "prefix": token.token_key[:TOKEN_PREFIX_SHOWN],
        "created": token.created.isoformat(),
        "expires": token.expiry.isoformat() if token.expiry else None,
    }


@transaction.atomic
def rotate_api_client_token(request, client):
    """Issue a new token; the client's other live tokens stop after the grace period.

    Both work during the grace, so a PSA can deploy the new token without downtime. A token
    already due to expire sooner keeps its earlier expiry. Returns ``(new token, grace end)``.
    """
    # Locked, so two rotations at once cannot each leave a token without an expiry.
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    _check_not_revoked(client)
    now = timezone.now()
    grace_ends = now + timedelta(hours=settings.API_TOKEN_ROTATION_GRACE_HOURS)
    previous = live_tokens(client, now).filter(Q(expiry__isnull=True) | Q(expiry__gt=grace_ends))
    before = [token_snapshot(token) for token in live_tokens(client, now)]
    # A queryset update sends no signal: the cached grants of these tokens still say "no expiry".
    token_cache.forget_tokens(previous)
    previous.update(expiry=grace_ends)
    # Tokens whose grace ended at an earlier rotation: refused already, now gone too.
    AuthToken.objects.filter(user=client.user, expiry__lte=now).delete()
    instance, token = AuthToken.objects.create(user=client.user, expiry=None)
    audit.record(
        actor=request.user,
        action="api_client.token_rotated",
        target=client,
        before={"tokens": before},
        after={
            "new_token": token_snapshot(instance),
            "previous_tokens_expire": grace_ends.isoformat(),
        },
        request=request,
    )
    return token, grace_ends


@transaction.atomic
def revoke_api_client(request, client):
    if client.is_revoked:
        return client
    before = api_client_snapshot(client)
    client.revoked_at = timezone.now()
    client.save(update_fields=["revoked_at"])
    AuthToken.objects.filter(user=client.user).delete()
    client.user.is_active = False
    client.user.save(update_fields=["is_active"])
    audit.record(
        actor=request.user,
        action="api_client.revoked",
        target=client,
        before=before,
        after=api_client_snapshot(client),
        request=request,
    )
    return client
