"""Form pieces for secrets in the admin: write-only inputs that never render a stored value."""

from django import forms

KEEP_HINT = "Leave empty to keep the current value."


class SecretInput(forms.PasswordInput):
    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)


def secret_field(label: str, *, required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=label, required=required, strip=True, widget=SecretInput(), help_text=KEEP_HINT
    )
