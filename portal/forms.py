"""The base of the portal's forms: text fields refuse control characters (tab and line
breaks only in multi-line fields), beside the field, like any other error."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from wallet.text import describe_character, first_refused_character


class Form(FlaskForm):
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
