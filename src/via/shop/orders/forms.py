from django import forms

from .models import OrderStatus, PaymentMethod


class CheckoutForm(forms.Form):
    shipping_name = forms.CharField(label="Full name", max_length=120)
    shipping_address = forms.CharField(label="Address", max_length=255)
    shipping_city = forms.CharField(label="City", max_length=100)
    shipping_country = forms.CharField(label="Country", max_length=100, initial="United Kingdom")
    payment_method = forms.ChoiceField(
        label="Payment",
        choices=PaymentMethod.choices,
        initial=PaymentMethod.CASH_ON_DELIVERY,
        widget=forms.RadioSelect,
    )
    card_number = forms.CharField(
        label="Card number",
        required=False,
        max_length=23,
        help_text="Only for card payment. The offline test provider accepts 4242 4242 4242 4242.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "cc-number"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("payment_method") == PaymentMethod.CARD:
            number = "".join((data.get("card_number") or "").split()).replace("-", "")
            if not number:
                self.add_error("card_number", "Enter a card number to pay by card.")
            elif not number.isdigit() or not 12 <= len(number) <= 19:
                self.add_error("card_number", "A card number is 12 to 19 digits.")
            data["card_number"] = number
        return data


class StatusForm(forms.Form):
    """What a seller or an administrator sets on an order."""

    status = forms.ChoiceField(choices=OrderStatus.choices)
    tracking_number = forms.CharField(max_length=64, required=False)

    def clean_tracking_number(self):
        return self.cleaned_data["tracking_number"].strip()
