"""The web pages (Jinja2 templates in frontend/), over the same services as the API.

Pages read and change state only through ``server.services``; forms are protected by the
double-submit CSRF token of ``server.web.session``; scripts on the pages call the JSON API with
the session cookie and the ``X-CSRF-Token`` header.
"""
