"""Activities of the signature workflow: the provider calls and the contract's
record. Each fact (submitted, signed by the learner, by the organization) is
written once, by a conditional update, whichever path noticed it first."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.failures import raises_domain_errors
from domain.errors import NotFound, error_class
from domain.signatures import SignatureState, Signer, Submission
from integrations.documents import checksum, render_contract
from integrations.signature.base import SignatureProvider
from models import orders
from models.base import utcnow
from models.catalog import Organization
from models.contracts import Contract
from models.orders import Order
from models.users import User

ContractNotFound = error_class(NotFound, "contract_not_found")
NothingToSign = error_class(NotFound, "no_signature_procedure")


class SignatureActivities:
    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], provider: SignatureProvider
    ) -> None:
        self._sessionmaker = sessionmaker
        self._provider = provider

    async def _contract(self, session: AsyncSession, contract_id: uuid.UUID) -> Contract:
        contract = await session.get(Contract, contract_id)
        if contract is None:
            raise ContractNotFound(f"No contract {contract_id}.")
        return contract

    async def _student(self, session: AsyncSession, order: Order) -> Signer:
        user = await session.get(User, order.owner_id)
        return Signer(
            name=(user.name if user else "") or str(order.owner_id),
            email=(user.email if user else "") or f"{order.owner_id}@unknown.invalid",
        )

    @activity.defn(name="signatures.submit")
    @raises_domain_errors
    async def submit(self, contract_id: uuid.UUID) -> Submission:
        """Render the contract and start the procedure, unless already started."""
        async with self._sessionmaker() as session:
            contract = await self._contract(session, contract_id)
            order = await orders.get_order(session=session, id=contract.order_id)
            student = await self._student(session, order)
            organization = await session.get(Organization, order.organization_id)
        if contract.signature_reference and contract.submitted_for_signature_on:
            link = await self._provider.invitation_link(
                reference=contract.signature_reference, signer=student
            )
            return Submission(reference=contract.signature_reference, invitation_link=link)
        document = render_contract(
            title=contract.definition_title, body=contract.definition_body, context=contract.context
        )
        digest = checksum(document)
        signers = [Signer(**item) for item in (organization.signatories if organization else [])]
        reference = await self._provider.submit_for_signature(
            title=contract.definition_title,
            document=document,
            checksum=digest,
            student=student,
            organization_signers=signers,
        )
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(Contract)
                .where(Contract.id == contract_id, Contract.signature_reference.is_(None))
                .values(
                    signature_backend=self._provider.name,
                    signature_reference=reference,
                    submitted_for_signature_on=utcnow(),
                    document_checksum=digest,
                    organization_signatory=signers[0].model_dump() if signers else None,
                    updated_at=utcnow(),
                )
            )
        link = await self._provider.invitation_link(reference=reference, signer=student)
        return Submission(reference=reference, invitation_link=link)

    @activity.defn(name="signatures.invitation_link")
    @raises_domain_errors
    async def invitation_link(self, contract_id: uuid.UUID) -> str:
        async with self._sessionmaker() as session:
            contract = await self._contract(session, contract_id)
            if contract.signature_reference is None:
                raise NothingToSign("The contract has not been submitted for signature.")
            order = await orders.get_order(session=session, id=contract.order_id)
            student = await self._student(session, order)
        return await self._provider.invitation_link(
            reference=contract.signature_reference, signer=student
        )

    @activity.defn(name="signatures.check")
    @raises_domain_errors
    async def check(self, contract_id: uuid.UUID) -> SignatureState:
        """Ask the provider who has signed, and record what is new."""
        async with self._sessionmaker() as session:
            reference = await session.scalar(
                select(Contract.signature_reference).where(Contract.id == contract_id)
            )
        if reference is None:
            raise NothingToSign("The contract has not been submitted for signature.")
        state = await self._provider.signature_state(reference=reference)
        async with self._sessionmaker.begin() as session:
            for signed, column in (
                (state.student, Contract.student_signed_on),
                (state.organization, Contract.organization_signed_on),
            ):
                if signed:
                    await session.execute(
                        update(Contract)
                        .where(Contract.id == contract_id, column.is_(None))
                        .values({column.key: utcnow(), "updated_at": utcnow()})
                    )
        return state

    @activity.defn(name="signatures.reset")
    @raises_domain_errors
    async def reset(self, contract_id: uuid.UUID) -> None:
        """Refused or expired: stop the procedure and clear the submission so
        the learner may submit again."""
        async with self._sessionmaker() as session:
            contract = await self._contract(session, contract_id)
        if contract.signature_reference:
            await self._provider.abort(reference=contract.signature_reference)
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(Contract)
                .where(Contract.id == contract_id, Contract.student_signed_on.is_(None))
                .values(
                    signature_reference=None,
                    submitted_for_signature_on=None,
                    signature_backend=None,
                    updated_at=utcnow(),
                )
            )
            await orders.add_event(
                session=session,
                order_id=contract.order_id,
                type="contract_reset",
                detail={"reference": contract.signature_reference},
            )

    @activity.defn(name="signatures.abort")
    @raises_domain_errors
    async def abort(self, contract_id: uuid.UUID) -> None:
        async with self._sessionmaker() as session:
            contract = await self._contract(session, contract_id)
        if contract.signature_reference:
            await self._provider.abort(reference=contract.signature_reference)
