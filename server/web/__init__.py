"""The web pages (Jinja2 templates in frontend/), over the same services as the API.

Pages read and change state only through ``server.services``; forms are protected by the
double-submit CSRF token of ``server.web.session``; scripts on the pages call the JSON API with
the session cookie and the ``X-CSRF-Token`` header.
"""

from fastapi import APIRouter

from server.web import accounts, organizer, participant, public

router = APIRouter(include_in_schema=False)
for _module in (public, accounts, participant, organizer):
    router.include_router(_module.router)
