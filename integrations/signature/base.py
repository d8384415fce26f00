"""What Guichet needs from an e-signature provider, whichever it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from domain.errors import MalformedNotification, Unverifiable
from domain.signatures import Notification, SignatureState, Signer

__all__ = ["MalformedNotification", "SignatureProvider", "Unverifiable"]


class SignatureProvider(Protocol):
    name: str

    async def submit_for_signature(
        self,
        *,
        title: str,
        document: bytes,
        checksum: str,
        student: Signer,
        organization_signers: list[Signer],
    ) -> str:
        """Start a procedure, the learner first, then the organization;
        returns its reference."""
        ...

    async def invitation_link(self, *, reference: str, signer: Signer) -> str: ...

    async def signature_state(self, *, reference: str) -> SignatureState: ...

    async def abort(self, *, reference: str) -> None:
        """Stop the procedure; stopping a stopped or unknown one is no error."""
        ...

    async def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        """A verified notification; Unverifiable (401) if it is not authentic,
        MalformedNotification (400) if it cannot be read."""
        ...
