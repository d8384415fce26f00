"""What the mails look like, for the dev mail preview."""

from __future__ import annotations

from domain.emails import EmailKind, sample_context
from integrations.mail import Mail, render


def preview(*, kind: EmailKind, language: str) -> Mail:
    """The template rendered with sample data."""
    return render(kind=kind, language=language, context=sample_context(), to="learner@example.org")
