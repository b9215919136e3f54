"""Every page's router, in one."""

from fastapi import APIRouter

from server.web import accounts, organizer, participant, public, team

router = APIRouter(include_in_schema=False)
for _module in (public, accounts, participant, team, organizer):
    router.include_router(_module.router)
