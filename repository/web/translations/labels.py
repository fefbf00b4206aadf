"""Interface words the code translates from a variable, listed here so that pybabel extracts them.

``_(BROWSABLE[facet])`` (catalogue.py), ``_(facet_labels[f])`` (searching.py, search.html) and
``_(current_user.role)`` (auth/login.html) pass a variable to gettext, which extraction cannot see
through. Nothing imports this file; keep it in step with ``catalogue.BROWSABLE``,
``searching.FACET_LABELS`` and ``accounts.ROLES`` (tests/test_i18n.py checks that it is).
"""


def _(text: str) -> str:
    return text


BROWSABLE = (_("Newspapers"), _("Authors"), _("Years"), _("Collections"))
FACET_LABELS = (_("Newspaper"), _("Author"), _("Collection"), _("Language"))
ROLES = (_("reader"), _("cataloger"), _("administrator"))
LANGUAGE_NAMES = (
    _("Chinese (simplified)"), _("Chinese (traditional)"), _("Chinese"), _("English"), _("Chinese (pinyin)"),
)  # fmt: skip
