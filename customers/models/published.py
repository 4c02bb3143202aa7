"""What Microsoft publishes to tenants (an incident, a Message center message): the post, stored
once however many tenants' feeds list it, and the link to each customer whose feed listed it."""

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MicrosoftPost(models.Model):
    """A post Microsoft published, by its id (EX123456, MC123456); ``CustomerLink`` ties it to the
    customers it reached."""

    microsoft_id = models.CharField(_("Microsoft id"), max_length=40)
    title = models.CharField(_("title"), max_length=500)
    last_modified_at = models.DateTimeField(_("last modified by Microsoft"), null=True, blank=True)
    details = models.JSONField(_("details"), default=list, blank=True)
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-last_modified_at", "-pk"]
        constraints = [
            # Each poll upserts by Microsoft's id: one row per post.
            models.UniqueConstraint(
                fields=["microsoft_id"], name="%(app_label)s_%(class)s_unique_microsoft_id"
            )
        ]

    def __str__(self):
        return f"{self.microsoft_id}: {self.title}"


class CustomerLinkQuerySet(models.QuerySet):
    def by_customer_name(self):
        """With their customers, in the order the pages and the API list them."""
        return self.select_related("customer").order_by("customer__company_name", "customer_id")


class CustomerLink(models.Model):
    """A customer whose tenant's feed listed a ``MicrosoftPost``. A subclass adds the foreign key
    to the post, names it in ``post_field``, adds ``customer`` with its own reverse name, and
    takes its Meta's ordering, constraint and index from ``link_options``."""

    post_field: ClassVar[str]

    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)

    objects = CustomerLinkQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self):
        return f"{getattr(self, self.post_field).microsoft_id} → {self.customer}"


def link_options(post_field, *, unique, by_customer):
    """A link's ``ordering``, ``constraints`` and ``indexes``: in post order, one row per post and
    customer (the constraint named ``unique``), and the index named ``by_customer`` that serves a
    customer's page listing its posts."""
    return (
        [f"{post_field}_id", "customer_id"],
        [models.UniqueConstraint(fields=[post_field, "customer"], name=unique)],
        [models.Index(fields=["customer", post_field], name=by_customer)],
    )
