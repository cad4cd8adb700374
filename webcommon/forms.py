"""The base of both apps' forms: WTForms' own messages in the reader's language, and text
fields that refuse control characters (tab and line breaks only in multi-line fields),
beside the field, like any other error."""

from __future__ import annotations

from flask_babel import get_translations, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from wallet.text import describe_character, first_refused_character


class _CatalogueTranslations:
    """WTForms' own messages ("This field is required.") from this app's catalogue:
    WTForms ships no Indonesian, so both catalogues carry its messages. The texts are
    returned unformatted: WTForms fills in their values itself."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


def _wtforms_messages() -> None:  # pragma: no cover
    """WTForms' own messages (it ships no Indonesian), written here so that `pybabel
    extract` finds them and `pybabel update` keeps their translations in the catalogue.
    Never called: _CatalogueTranslations gives WTForms their translations."""
    _("Invalid field name '%s'.")
    _("Field must be equal to %(other_name)s.")
    ngettext(
        "Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long.",
        1,
    )
    ngettext(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
        1,
    )
    ngettext(
        "Field must be exactly %(max)d character long.",
        "Field must be exactly %(max)d characters long.",
        1,
    )
    _("Field must be between %(min)d and %(max)d characters long.")
    _("Number must be at least %(min)s.")
    _("Number must be at most %(max)s.")
    _("Number must be between %(min)s and %(max)s.")
    _("Date must be at least %(min)s.")
    _("Date must be at most %(max)s.")
    _("Date must be between %(min)s and %(max)s.")
    _("This field is required.")
    _("Invalid input.")
    _("Invalid email address.")
    _("Invalid IP address.")
    _("Invalid Mac address.")
    _("Invalid URL.")
    _("Invalid UUID.")
    _("Invalid value, must be one of: %(values)s.")
    _("Invalid value, can't be any of: %(values)s.")
    _("This field cannot be edited.")
    _("This field is disabled and cannot have a value.")
    _("Invalid CSRF Token.")
    _("CSRF token missing.")
    _("CSRF failed.")
    _("CSRF token expired.")
    _("Invalid Choice: could not coerce.")
    _("Choices cannot be None.")
    _("Not a valid choice.")
    _("Invalid choice(s): one or more data inputs could not be coerced.")
    ngettext(
        "'%(value)s' is not a valid choice for this field.",
        "'%(value)s' are not valid choices for this field.",
        1,
    )
    _("Not a valid datetime value.")
    _("Not a valid date value.")
    _("Not a valid time value.")
    _("Not a valid week value.")
    _("Not a valid integer value.")
    _("Not a valid decimal value.")
    _("Not a valid float value.")


class TranslatedForm(FlaskForm):
    """A form whose WTForms messages are in the reader's language."""

    class Meta:
        def get_translations(self, form):
            return _CatalogueTranslations()


class Form(TranslatedForm):
    """The base of every form of both apps: translated, and text fields refuse control
    characters."""

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
