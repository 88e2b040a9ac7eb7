"""`EncryptedTextField`: a column that only ever holds envelope-encrypted text.

The attribute holds the *ciphertext*, in memory as in the database, so a model instance that
ends up in a template, a log line or an error page shows nothing secret. Assigning clear text
is allowed as a convenience: `save()` encrypts it (with the row's tenant data key) before the
INSERT/UPDATE and puts the ciphertext back on the instance. A queryset `.update()` with clear
text is refused. Read the clear value with `field_secret_get(instance, "name")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models

from apps.core.crypto.envelope import secret_decrypt, secret_encrypt, secret_is_encrypted


class EncryptedTextField(models.TextField):
    description = "Envelope-encrypted text"

    def __init__(self, *args: Any, purpose: str = "", **kwargs: Any) -> None:
        self.purpose = purpose
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.purpose:
            kwargs["purpose"] = self.purpose
        for key, default in (("editable", False), ("blank", True), ("default", "")):
            if kwargs.get(key, default) == default:
                kwargs.pop(key, None)
        return name, path, args, kwargs

    def purpose_for(self) -> str:
        """Bound into every value as associated data; renaming the model or field needs an
        explicit `purpose=` with the old name (or a re-encryption)."""
        return self.purpose or f"{self.model._meta.label_lower}.{self.name}"

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if value and not secret_is_encrypted(value):
            value = secret_encrypt(
                tenant=getattr(model_instance, "tenant_id", None),
                plaintext=str(value),
                purpose=self.purpose_for(),
            )
            setattr(model_instance, self.attname, value)
        return value

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if value and not hasattr(value, "resolve_expression") and not secret_is_encrypted(value):
            raise ValueError(f"refusing to write clear text into {self.model.__name__}.{self.name}")
        return super().get_db_prep_save(value, connection)


def field_secret_get(instance: models.Model, field_name: str) -> str:
    """The clear value of an EncryptedTextField ("" when empty)."""
    field = instance._meta.get_field(field_name)
    assert isinstance(field, EncryptedTextField)
    value = getattr(instance, field.attname)
    if not value:
        return ""
    return secret_decrypt(
        tenant=getattr(instance, "tenant_id", None),
        ciphertext=value,
        purpose=field.purpose_for(),
    )


def field_secret_set(instance: models.Model, field_name: str, plaintext: str) -> None:
    """Encrypt `plaintext` into the field now (the instance still has to be saved)."""
    field = instance._meta.get_field(field_name)
    assert isinstance(field, EncryptedTextField)
    value = (
        secret_encrypt(
            tenant=getattr(instance, "tenant_id", None),
            plaintext=plaintext,
            purpose=field.purpose_for(),
        )
        if plaintext
        else ""
    )
    setattr(instance, field.attname, value)


@dataclass(frozen=True)
class ProtectedField:
    model: type[models.Model]
    field_name: str
    description: str
    purpose: str

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field_name}"


_extra: list[tuple[str, str, str, str]] = []


def register_protected_field(
    model_label: str, field_name: str, *, description: str, purpose: str = ""
) -> None:
    """Declare a text column that holds `secret_encrypt` values but is not an
    EncryptedTextField, so the key-status page and `rotate_keys --reencrypt` know of it."""
    _extra.append((model_label, field_name, description, purpose))


def protected_fields() -> list[ProtectedField]:
    """Every column that holds envelope-encrypted values."""
    result = [
        ProtectedField(
            model=model,
            field_name=field.name,
            description=str(field.verbose_name),
            purpose=field.purpose_for(),
        )
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]
    for model_label, field_name, description, purpose in _extra:
        model = apps.get_model(model_label)
        result.append(
            ProtectedField(
                model=model,
                field_name=field_name,
                description=description,
                purpose=purpose or f"{model._meta.label_lower}.{field_name}",
            )
        )
    return result
