"""The learner's enrollments: what their orders gave them access to."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy import select

from api.deps import CurrentUser, ReadSessionDep
from api.errors import ERROR_RESPONSES
from api.pagination import Page, PageDep, paginate
from api.schemas.common import OutputModel
from models.enrollments import Enrollment

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
    query = (
        select(Enrollment)
        .where(Enrollment.user_id == user.sub)
        .order_by(Enrollment.created_at.desc(), Enrollment.id)
    )
    return await paginate(
        request=request,
        session=session,
        params=params,
        query=query,
        each=EnrollmentOut.model_validate,
    )
