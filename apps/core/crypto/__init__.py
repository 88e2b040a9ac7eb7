"""Envelope encryption for every secret Custos keeps (see docs/keys.md).

from apps.core.crypto import secret_encrypt, secret_decrypt, EncryptedTextField
"""

from apps.core.crypto.envelope import (
    SecretError,
    SecretFormatError,
    SecretTamperedError,
    data_key_active,
    data_key_rotate,
    secret_decrypt,
    secret_encrypt,
    secret_is_encrypted,
    secret_reencrypt,
)
from apps.core.crypto.fields import (
    EncryptedTextField,
    field_secret_get,
    field_secret_set,
    register_protected_field,
)

__all__ = [
    "EncryptedTextField",
    "SecretError",
    "SecretFormatError",
    "SecretTamperedError",
    "data_key_active",
    "data_key_rotate",
    "field_secret_get",
    "field_secret_set",
    "register_protected_field",
    "secret_decrypt",
    "secret_encrypt",
    "secret_is_encrypted",
    "secret_reencrypt",
]
