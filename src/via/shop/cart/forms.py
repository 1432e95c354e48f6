from django import forms
from django.conf import settings


class QuantityForm(forms.Form):
    quantity = forms.IntegerField(
        min_value=0,
        max_value=settings.VIA_MAX_LINE_QUANTITY,
        error_messages={
            "invalid": "Quantity must be a whole number.",
            "min_value": "Quantity cannot be negative.",
            "max_value": f"At most {settings.VIA_MAX_LINE_QUANTITY} per line.",
            "required": "Give a quantity.",
        },
    )


class AddToCartForm(QuantityForm):
    quantity = forms.IntegerField(
        min_value=1,
        max_value=settings.VIA_MAX_LINE_QUANTITY,
        initial=1,
        error_messages={
            "invalid": "Quantity must be a whole number.",
            "min_value": "Add at least 1.",
            "max_value": f"At most {settings.VIA_MAX_LINE_QUANTITY} per line.",
            "required": "Give a quantity.",
        },
    )
