"""Security headers on every response."""

import secrets

from flask import current_app, g

# Flask-Admin's pages load their own scripts and styles from /admin/static and
# run a few inline scripts that carry the per-request nonce below.
CSP = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "frame-ancestors 'none'; "
    "form-action 'self'; "
    "base-uri 'self'; "
    "object-src 'none'"
)


def csp_nonce() -> str:
    """The nonce of this request's inline scripts."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def allow_framing(response, origins, form_action=()):
    """Let ``origins`` frame this one response (a public form embedded on a
    site the form names); ``form_action`` adds origins its form may go to."""
    response.frame_ancestors = list(origins)
    response.form_action = list(form_action)
    return response


def _policy(response) -> str:
    policy = CSP.format(nonce=csp_nonce())
    ancestors = getattr(response, "frame_ancestors", None)
    if ancestors:
        policy = policy.replace(
            "frame-ancestors 'none'", "frame-ancestors " + " ".join(ancestors)
        )
    extra = getattr(response, "form_action", None)
    if extra:
        policy = policy.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(extra)
        )
    return policy


def _add_headers(response):
    response.headers.setdefault("Content-Security-Policy", _policy(response))
    if not getattr(response, "frame_ancestors", None):
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "geolocation=(), camera=()")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        # Served over HTTPS: browsers keep to HTTPS for a year.
        response.headers.setdefault(
            "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
        )
    return response


def init_app(app) -> None:
    app.after_request(_add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
