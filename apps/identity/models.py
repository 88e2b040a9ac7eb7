"""Users (customer people and vendor staff) and login throttling."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from apps.tenants.models import TIME_ZONE_CHOICES


class UserKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer user")
    STAFF = "staff", _("Vendor staff")


class StaffRole(models.TextChoices):
    NONE = "", _("None")
    SUPPORT_ENGINEER = "support_engineer", _("Support engineer")
    SUPPORT_MANAGER = "support_manager", _("Support manager")
    DEVOPS = "devops", _("DevOps engineer")
    INTERNAL_REVIEWER = "internal_reviewer", _("Internal reviewer")
    SECURITY = "security", _("Security staff")
    COMPLIANCE = "compliance", _("Compliance officer")


# Staff roles that may look across tenants (audit search, oversight): explicit and audited.
OVERSIGHT_ROLES = frozenset({StaffRole.SECURITY, StaffRole.COMPLIANCE})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True, kind=UserKind.STAFF)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username or "")


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=UserKind, default=UserKind.CUSTOMER)
    staff_role = models.CharField(
        _("staff role"), max_length=30, choices=StaffRole, default=StaffRole.NONE, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("Django admin access"),
        default=False,
        help_text=_("Operators only: may sign in to the Django admin site."),
    )
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="UTC"
    )
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166 code of the user's location.")
    )
    # Bumped to end every session of the user at once (sign out everywhere, disable).
    session_generation = models.PositiveIntegerField(default=0, editable=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def clean(self) -> None:
        super().clean()
        self.email = (self.email or "").strip().lower()

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        """Sessions are bound to the password *and* the session generation, so bumping the
        generation (sign out everywhere, account disabled) invalidates every session."""
        return salted_hmac(
            "custos.identity.session",
            f"{self.password}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    @property
    def is_vendor_staff(self) -> bool:
        return self.kind == UserKind.STAFF

    @property
    def has_oversight(self) -> bool:
        return self.is_vendor_staff and self.staff_role in OVERSIGHT_ROLES


class LoginThrottle(models.Model):
    """Failed-login bookkeeping keyed on a hash of the account (and IP): a growing wait with a
    cool-off, never a permanent lock an attacker could impose on somebody else."""

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # Set on the (account, IP) row by a successful sign-in: a client that recently signed in
    # from there is not held back by an account-wide lock somebody else caused.
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("login throttle")

    def __str__(self) -> str:
        return f"{self.key[:12]}… ({self.failures})"
