"""The interface in 简体中文, 繁體中文 and English (Flask-Babel), and records shown in the reader's script.

* The language is chosen by ``?lang=`` (remembered in a cookie), else the cookie,
  else the browser's ``Accept-Language``, else 简体中文 (the library's own default).
  :func:`switch_url` is the same page in another language, so switching never loses it.
* Message catalogues are kept as ``.po`` files (``repository/web/translations``) and
  compiled into the instance folder when the app starts, so the source tree holds no
  build products and an edited catalogue takes effect on the next start.
* In 繁體中文, the records' own text (titles, names, full text) is converted from
  simplified with OpenCC (``s2tw``: the Taiwan forms the interface uses) and marked as
  converted; the record is not changed.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request
from flask_babel import Babel

from ..files import write_atomic

#: (URL code, Babel locale, BCP 47 tag for ``lang``, name in itself)
LANGUAGES = (
    ("zh-Hans", "zh_Hans", "zh-Hans", "简体中文"),
    ("zh-Hant", "zh_Hant", "zh-Hant", "繁體中文"),
    ("en", "en", "en", "English"),
)
DEFAULT = "zh-Hans"
COOKIE = "lang"
SOURCE = Path(__file__).resolve().parent / "translations"


def _code_of(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip().replace("_", "-").lower()
    if v in ("zh-hant", "zh-tw", "zh-hk", "zh-mo"):
        return "zh-Hant"
    if v in ("zh-hans", "zh-cn", "zh-sg", "zh"):
        return "zh-Hans"
    if v.startswith("en"):
        return "en"
    return None


def current_language() -> str:
    """The page's language code (``zh-Hans``, ``zh-Hant`` or ``en``)."""
    cached = g.get("language")
    if cached:
        return cached
    code = _code_of(request.args.get("lang")) or _code_of(request.cookies.get(COOKIE))
    if code is None:
        best = request.accept_languages.best_match(
            ["zh-Hans", "zh-CN", "zh", "zh-Hant", "zh-TW", "zh-HK", "en"], default=DEFAULT
        )
        code = _code_of(best) or DEFAULT
    g.language = code
    return code


def _locale() -> str:
    return {c: loc for c, loc, _, _ in LANGUAGES}[current_language()]


def switch_url(code: str) -> str:
    """This page in language ``code``: same path, same query, ``lang`` replaced."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", code))
    return f"{request.path}?{urlencode(args)}"


@cache
def _s2t():  # noqa: ANN202 - opencc ships no type information
    import opencc

    return opencc.OpenCC("s2tw")


def record_text(text: str | None) -> str:
    """A record's own text as the reader's script shows it (converted in 繁體中文)."""
    if not text:
        return text or ""
    if current_language() == "zh-Hant":
        return _s2t().convert(text)
    return text


def converted() -> bool:
    """Whether record text on this page is shown converted (the page says so)."""
    return current_language() == "zh-Hant"


def compile_catalogues(target: Path) -> Path:
    """Compile the ``.po`` catalogues into ``target`` where they are newer than what is there."""
    for po in SOURCE.glob("*/LC_MESSAGES/messages.po"):
        mo = target / po.relative_to(SOURCE).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with open(po, "rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        write_atomic(mo, compiled.getvalue())  # server workers starting together compile at once
    return target


def init_app(app: Flask, instance: Path) -> None:
    directory = compile_catalogues(Path(instance) / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(directory)
    app.config["BABEL_DEFAULT_LOCALE"] = "zh_Hans"
    Babel(app, locale_selector=_locale)

    @app.context_processor
    def _language() -> dict:
        code = current_language()
        return {
            "languages": LANGUAGES,
            "language": code,
            "html_lang": code,
            "switch_url": switch_url,
            "converted": converted(),
        }

    app.add_template_filter(record_text, "rt")

    @app.after_request
    def _remember(response):  # noqa: ANN001, ANN202
        if request.blueprint not in ("catalogue", "auth", "editor"):
            return response  # the machine interfaces (OAI-PMH, SPARQL, API) are not translated
        code = _code_of(request.args.get("lang"))
        if code and request.cookies.get(COOKIE) != code:
            response.set_cookie(COOKIE, code, max_age=365 * 86400, samesite="Lax", httponly=True)
        if "lang" in request.args or COOKIE in request.cookies:
            response.vary.add("Cookie")
        response.vary.add("Accept-Language")
        return response
