import re

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import scopes as api_scopes
from accounts.roles import Capability, Role, capability_permission

# DRF's rate syntax: a count per second, minute, hour or day.
RATE_PATTERN = re.compile(r"^[1-9][0-9]{0,6}/(s|sec|second|m|min|minute|h|hour|d|day)$")


def validate_rate(value):
    if value and not RATE_PATTERN.match(value):
        raise ValidationError(
            _("Write it as a number per period, for example 120/min, 5000/hour or 2/s."),
            code="invalid_rate",
        )


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def staff_members(self):
        """People, not API clients."""
        return self.filter(is_api_client=False)


class User(AbstractBaseUser, PermissionsMixin):
    """A member of the partner's support staff, or the service identity of an API client.

    Email is the login. Roles are Django groups (see ``accounts.roles``).
    """

    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Deactivated users cannot sign in; their sessions are ended."),
    )
    # Access to Django's own admin site, for operators only; the portal never sets it.
    is_staff = models.BooleanField(_("Django admin access"), default=False)
    is_api_client = models.BooleanField(_("API client"), default=False, editable=False)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_unique_email_ci"),
        ]
        indexes = [
            # The Staff page lists people (not API clients) by email.
            models.Index(fields=["is_api_client", "email"], name="accounts_user_kind_email"),
        ]

    def __str__(self):
        return self.full_name or self.email

    def save(self, *args, **kwargs):
        self.email = self.email.lower()
        super().save(*args, **kwargs)

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def roles(self):
        """The user's roles, in the matrix's order."""
        names = {group.name for group in self.groups.all()}
        return [role for role in Role if role.value in names]

    def has_capability(self, capability):
        return self.is_active and self.has_perm(capability_permission(capability))

    @property
    def capabilities(self):
        return {capability for capability in Capability if self.has_capability(capability)}

    @property
    def is_invited(self):
        """Invited but has not set a password yet."""
        return not self.has_usable_password() and self.last_login is None


class ApiClient(models.Model):
    """A PSA tool or script that calls the API with bearer tokens.

    Each client acts through its own inactive-for-login user, so the role matrix applies to it
    exactly as to a person. Tokens are django-rest-knox tokens: stored only as digests.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    user = models.OneToOneField(
        User, on_delete=models.PROTECT, related_name="api_client", editable=False
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    # "<resource>:read" / "<resource>:write", one per resource at most (accounts.scopes).
    scopes = models.JSONField(_("scopes"), default=list)
    rate_limit = models.CharField(
        _("rate limit"),
        max_length=20,
        blank=True,
        validators=[validate_rate],
        help_text=_(
            "Requests this client may make, for example 120/min or 5000/hour. "
            "Empty: the portal's default."
        ),
    )
    created_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="api_clients_created",
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def allows(self, resource, access):
        """Whether the client's scopes permit ``access`` ("read"/"write") on ``resource``."""
        return api_scopes.allows(self.scopes, resource, access)

    @property
    def scope_levels(self):
        """``[(resource label, Access)]`` for the resources the client may use, in order."""
        return [
            (resource.label, access)
            for resource, access in api_scopes.levels(self.scopes).items()
            if access
        ]

    @property
    def scope_summary(self):
        """The scopes in a few words: "Read everything", or "Customers: write, Incidents: read"."""
        by_resource = api_scopes.levels(self.scopes)
        distinct = set(by_resource.values())
        if distinct == {api_scopes.Access.READ}:
            return _("Read everything")
        if distinct == {api_scopes.Access.WRITE}:
            return _("Read and write everything")
        return ", ".join(f"{label}: {access.label.lower()}" for label, access in self.scope_levels)
