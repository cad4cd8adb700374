"""Form pieces shared by the screens: the base of every form (which refuses control
characters in text), money fields and the hidden idempotency key."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, IntegerField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation, ValidationError

from rating.money import AmountError, parse_amount
from webadmin.ui import (
    FIRST_DAY,
    LAST_DAY,
    currency,
    money_plain,
    new_form_key,
    parse_day,
    site,
    valid_form_key,
    whole_number,
)


def options(pairs) -> list[SelectChoice]:
    """Choices of a SelectField from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def amount_message(error: AmountError) -> str:
    """Why a typed amount was refused, in the reader's language, showing how it was read."""
    details = error.details
    text = details.get("text", "")
    messages = {
        "empty": lambda: _("Enter an amount."),
        "too_long": lambda: _("This is too long for an amount."),
        "digits": lambda: _("%(text)s is not an amount: use the digits 0 to 9.", text=text),
        "exponent": lambda: _(
            "%(text)s is not an amount: write the digits out, without an exponent.", text=text
        ),
        "sign": lambda: _("%(text)s is not an amount: one sign at most.", text=text),
        "groups": lambda: _(
            "%(text)s is not an amount: thousands separators go between groups of three "
            "digits, and a number has one decimal mark.",
            text=text,
        ),
        "too_large": lambda: _(
            "%(text)s is too large: at most %(largest)s.", text=text, largest=details["largest"]
        ),
        "not_whole": lambda: _(
            "%(text)s (read as %(reading)s) is not a whole amount of %(currency)s: "
            "write %(lower)s or %(upper)s.",
            text=text,
            reading=details["reading"],
            currency=details["currency"],
            lower=details["lower"],
            upper=details["upper"],
        ),
        "decimals": lambda: _(
            "%(text)s (read as %(reading)s) has more than %(decimals)s decimals.",
            text=text,
            reading=details["reading"],
            decimals=details["decimals"],
        ),
        "ambiguous": lambda: _(
            "%(text)s could be %(first)s or %(second)s: write %(one)s or %(other)s to say which.",
            text=text,
            first=details["readings"][0],
            second=details["readings"][1],
            one=details["suggestions"][0],
            other=details["suggestions"][1],
        ),
    }
    return messages.get(error.reason, lambda: _("%(text)s is not an amount.", text=text))()


def read_amount(text: str) -> int:
    """An amount typed in the admin, in micro-units, read with the site's currency and
    precision (raises AmountError)."""
    return parse_amount(text, precision=site().display_precision, currency=currency())


class MoneyField(StringField):
    """An amount typed in currency units ("50000", "Rp 50.000", "12.50"); `data` is
    micro-units.

    Parsing goes through rating.parse_amount, the one place where typed amounts become
    integers, read with the site's currency and precision; its refusal shows beside the
    field, saying how the amount was read.
    """

    def __init__(self, *args, allow_negative: bool = False, allow_zero: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_negative = allow_negative
        self.allow_zero = allow_zero

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        try:
            self.data = read_amount(valuelist[0])
        except AmountError as error:
            raise ValueError(amount_message(error)) from None

    def pre_validate(self, form):
        _keep_refusal(self)
        if self.data is None:
            return
        if self.data < 0 and not self.allow_negative:
            raise ValidationError(_l("The amount cannot be negative."))
        if self.data == 0 and not self.allow_zero:
            raise ValidationError(_l("The amount cannot be zero."))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return money_plain(self.data) if self.data is not None else ""


def _keep_refusal(field) -> None:
    """Let the refusal of what was typed stand alone: without this, a DataRequired
    validator would replace it by its own "enter a ..." message."""
    if field.process_errors:
        raise StopValidation()


class WholeNumberField(IntegerField):
    """A whole number written with the digits 0 to 9 ("²" and "٥" are refused, though
    Python's int() takes one of them), at most 64 bits so that the database holds it."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = valuelist[0].strip()
        if not text:
            # Empty: the validators say whether a number was required.
            self.data = None
            return
        self.data = whole_number(text.removeprefix("-"))
        if self.data is None:
            if text.removeprefix("-").isascii() and text.removeprefix("-").isdigit():
                raise ValueError(_l("This number is too large."))
            raise ValueError(_l("Enter a whole number with the digits 0 to 9."))
        if text.startswith("-"):
            self.data = -self.data

    def pre_validate(self, form):
        _keep_refusal(self)


class DayField(DateField):
    """A day (YYYY-MM-DD) between 1900 and 2999: beyond them a day's next day or its time
    in another zone cannot be computed."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = parse_day(valuelist[0])
        if self.data is None and valuelist[0].strip():
            raise ValueError(
                _(
                    "Enter a day between %(first)s and %(last)s as YYYY-MM-DD.",
                    first=FIRST_DAY.isoformat(),
                    last=LAST_DAY.isoformat(),
                )
            )

    def pre_validate(self, form):
        _keep_refusal(self)


class FormKeyField(HiddenField):
    """The idempotency key of a money form, made when the form is first rendered."""

    def process(self, formdata, data=None, **kwargs):
        super().process(formdata, data, **kwargs)
        # Only a form being rendered gets a new key; a submitted one must bring its own.
        if not self.data and not formdata:
            self.data = new_form_key()

    def pre_validate(self, form):
        if not valid_form_key(self.data):
            raise ValidationError(_l("This form expired; please fill it in again."))
