"""Keeping secrets out of what the model sees, what the audit log keeps, and what model-run commands inherit."""

from locoder.safety.secrets import (
    PLACEHOLDER_PREFIX,
    WELL_KNOWN_SECRET_NAMES,
    filter_env,
    is_secret_env_name,
    is_secret_field,
    is_secret_name,
    redact,
    redact_obj,
    secret_env_values,
)

__all__ = [
    "PLACEHOLDER_PREFIX",
    "WELL_KNOWN_SECRET_NAMES",
    "filter_env",
    "is_secret_field",
    "is_secret_env_name",
    "is_secret_name",
    "redact",
    "redact_obj",
    "secret_env_values",
]
