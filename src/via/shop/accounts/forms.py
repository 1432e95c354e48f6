"""Sign-in forms: ask for an e-mail or phone, then for the six-digit code."""

from django import forms
from django.core.exceptions import ValidationError

from .identifiers import normalise_identifier


class IdentifierForm(forms.Form):
    identifier = forms.CharField(
        label="E-mail or phone number",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )

    def clean_identifier(self):
        identifier, channel = normalise_identifier(self.cleaned_data["identifier"])
        self.cleaned_data["channel"] = channel
        return identifier


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Six-digit code",
        min_length=6,
        max_length=6,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )

    def clean_code(self):
        code = self.cleaned_data["code"].strip()
        if not code.isdigit():
            raise ValidationError("The code is six digits, like 042917.")
        return code
