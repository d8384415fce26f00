"""The learner's enrollments: what their orders gave them access to."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request

from api.deps import CurrentUser, ReadSessionDep
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, build_page
from api.schemas.common import OutputModel
from services import enrollments

router = APIRouter(prefix="/api/v1/enrollments", tags=["enrollments"], responses=ERROR_RESPONSES)


class EnrollmentOut(OutputModel):
    id: uuid.UUID
    course_run_id: uuid.UUID
    is_active: bool
    created_by_order: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


@router.get("", summary="List my enrollments")
async def list_enrollments(
    request: Request, user: CurrentUser, session: ReadSessionDep, params: PageDep
) -> Page[EnrollmentOut]:
    count, found = await enrollments.page_of_user(
        session=session, user_id=user.sub, offset=params.offset, limit=params.page_size
    )
    return build_page(
        request=request,
        params=params,
        count=count,
        results=[EnrollmentOut.model_validate(item) for item in found],
    )
