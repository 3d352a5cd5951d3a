"""Projects: the disc or USB titles a publisher sells, each with a numeric project ID."""

from __future__ import annotations

from django.db import models

from pressrun.accounts.models import Publisher


class Media(models.TextChoices):
    CD = "cd", "CD"
    DVD = "dvd", "DVD"
    USB = "usb", "USB drive"


class Packaging(models.TextChoices):
    SLEEVE = "sleeve", "Sleeve"
    JEWEL_CASE = "jewel-case", "Jewel case"
    DVD_CASE = "dvd-case", "DVD case"
    USB_ECOMAILER = "usb-ecomailer", "USB ecomailer"


# Packaging that may travel as a letter when it is the only item in the envelope.
LETTER_PACKAGING = frozenset({Packaging.SLEEVE, Packaging.USB_ECOMAILER})

# What each media can be packed in (the one table; the catalog service enforces it for the
# dashboard, `pressrun createproject` and the admin). A sleeve holds any 12 cm disc, so CDs
# and DVDs both ship in one (the spec's letter rate is for "a sleeve or usb ecomailer"); a
# jewel case is for CDs, a DVD case for DVDs, and a USB drive ships only in its ecomailer.
PACKAGING_FOR_MEDIA: dict[str, tuple[str, ...]] = {
    Media.CD: (Packaging.SLEEVE, Packaging.JEWEL_CASE),
    Media.DVD: (Packaging.SLEEVE, Packaging.DVD_CASE),
    Media.USB: (Packaging.USB_ECOMAILER,),
}


def packaging_fits(*, media: str, packaging: str) -> bool:
    """Whether `packaging` is one that `media` can ship in (PACKAGING_FOR_MEDIA)."""
    return packaging in PACKAGING_FOR_MEDIA.get(media, ())


class Project(models.Model):
    """A product a publisher sells. `id` is the project ID (the gateway's `productid`)."""

    id = models.BigAutoField(primary_key=True, verbose_name="project ID")
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="projects")
    title = models.CharField(max_length=200)
    media = models.CharField(max_length=10, choices=Media.choices)
    packaging = models.CharField(max_length=20, choices=Packaging.choices)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="Charged to the publisher per unit."
    )
    special_text = models.TextField(
        blank=True,
        max_length=500,
        help_text="Printed for every customer unless an order overrides it.",
    )
    ecommerce_ids = models.CharField(
        "eCommerce ID String",
        max_length=1000,
        blank=True,
        help_text=(
            "Cart product IDs or SKUs that order this project: one ID, or each in brackets, "
            "e.g. <5000-A> <6000-B> or {294010}{298020}."
        ),
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.title}"


class ProjectCartId(models.Model):
    """One cart product ID / SKU parsed from a project's eCommerce ID String.

    Derived data: `catalog.services` rewrites a project's rows whenever its string changes, in
    the same transaction. The publisher is repeated from the project so that a cart order is
    resolved with one indexed lookup on (publisher, key). One ID may appear on several
    projects of a publisher (a bonus disc ordered by the same SKU), but once per project.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cart_ids")
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="+")
    cart_id = models.CharField("cart ID", max_length=100, help_text="As written.")
    key = models.CharField(max_length=400, help_text="Lookup form: normalized and case-folded.")

    class Meta:
        verbose_name = "project cart ID"
        ordering = ["project_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "key"], name="catalog_cart_id_once_per_project"
            )
        ]
        indexes = [models.Index(fields=["publisher", "key"], name="catalog_cart_id_lookup")]

    def __str__(self) -> str:
        return self.cart_id
