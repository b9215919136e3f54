"""Every page's router, in one."""

from fastapi import APIRouter

from server.web import (
    accounts,
    bundle_pages,
    organizer,
    organizer_bundles,
    participant,
    public,
    team,
)

router = APIRouter(include_in_schema=False)
for _module in (public, bundle_pages, accounts, participant, team, organizer_bundles, organizer):
    router.include_router(_module.router)
