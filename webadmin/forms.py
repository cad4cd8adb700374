"""Form pieces shared by the screens: the base of every form (which refuses control
characters in text), money fields and the hidden idempotency key."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from rating.money import parse_money
from wallet.text import describe_character, first_refused_character
from webadmin.ui import money_plain, new_form_key, valid_form_key


class Form(FlaskForm):
    """The base of every form: text fields refuse control characters (tab and line breaks
    are allowed only in multi-line fields), beside the field, like any other error."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if not isinstance(field, StringField) or not isinstance(field.data, str):
                continue
            refused = first_refused_character(
                field.data, multiline=isinstance(field, TextAreaField)
            )
            if refused is not None:
                field.errors.append(
                    _l(
                        "Remove the invisible control character (%(code)s) from this text.",
                        code=describe_character(refused),
                    )
                )
                valid = False
        return valid


def options(pairs) -> list[SelectChoice]:
    """Choices of a SelectField from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class MoneyField(StringField):
    """An amount typed in currency units ("50000", "12.50"); `data` is micro-units.

    Parsing goes through rating.parse_money, the one place where typed amounts become
    integers (rounding up), never through float.
    """

    def __init__(self, *args, allow_negative: bool = False, allow_zero: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_negative = allow_negative
        self.allow_zero = allow_zero

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        text = valuelist[0].strip()
        negative = text.startswith("-")
        try:
            micro = parse_money(text[1:] if negative else text)
        except ValueError:
            raise ValueError(_l("Not an amount.")) from None
        self.data = -micro if negative else micro

    def pre_validate(self, form):
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
