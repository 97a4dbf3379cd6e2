"""Compliance by month (JSON and CSV), a subject's own, and the monthly assessment."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import Response as RawResponse

from api.responses import csv_response, csv_responses
from api.routers.correction.dependencies import (
    LoadedSupervision,
    ManagedSupervision,
    MonthPath,
    MonthText,
    OfficerUser,
    SubjectUser,
)
from api.routers.correction.schemas import AssessmentPublic, AssessmentPut, CompliancePublic
from grassroots import clock
from services.correction import compliance, dates

router = APIRouter()


@router.get("/supervisions/{id}/compliance", operation_id="get_supervision_compliance")
async def get_supervision_compliance(
    supervision: LoadedSupervision, month: MonthText
) -> CompliancePublic:
    """A month's obligations by interval, its violations and its assessment."""
    result = await compliance.compliance(
        supervision=supervision, month=dates.parse_month(month), now=clock.now()
    )
    return CompliancePublic.model_validate(result, from_attributes=True)


@router.get(
    "/supervisions/{id}/compliance.csv",
    operation_id="export_supervision_compliance_csv",
    response_class=RawResponse,
    responses=csv_responses("The month as CSV (UTF-8 with BOM): intervals, then violations"),
)
async def export_supervision_compliance_csv(
    supervision: LoadedSupervision, month: MonthText
) -> RawResponse:
    """The month's compliance as CSV that Excel opens (UTF-8 with BOM)."""
    result = await compliance.compliance(
        supervision=supervision, month=dates.parse_month(month), now=clock.now()
    )
    return csv_response(
        compliance.compliance_csv(result), filename=f"compliance-{supervision.id}-{month}.csv"
    )


@router.get("/me/compliance", operation_id="get_my_compliance")
async def get_my_compliance(user: SubjectUser, month: MonthText) -> CompliancePublic:
    """My compliance for a month of my supervision."""
    result = await compliance.my_compliance(
        user=user, month=dates.parse_month(month), now=clock.now()
    )
    return CompliancePublic.model_validate(result, from_attributes=True)


@router.put(
    "/supervisions/{id}/assessments/{month}",
    operation_id="put_supervision_assessment",
    responses={201: {"model": AssessmentPublic, "description": "Created"}},
)
async def put_supervision_assessment(
    body: AssessmentPut,
    user: OfficerUser,
    supervision: ManagedSupervision,
    month: MonthPath,
    response: Response,
) -> AssessmentPublic:
    """The monthly assessment (评议考核) of a subject: 201 when new, 200 when replaced."""
    assessment, created = await compliance.put_assessment(
        user=user,
        supervision=supervision,
        month=dates.parse_month(month),
        grade=body.grade,
        remark=body.remark,
        now=clock.now(),
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return AssessmentPublic.model_validate(assessment)
