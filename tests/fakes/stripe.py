"""localstripe, the Stripe fake we run in tests, taught one parameter that
real Stripe takes and localstripe refuses: `off_session` when a
PaymentIntent is confirmed (the customer is not there to authenticate).
Nothing else changes; notably localstripe still ignores idempotency keys, so
tests against it show our charges are safe without them.

Run as `python -m tests.fakes.stripe --port N --from-scratch`.
"""

from __future__ import annotations

from localstripe import resources

CONFIRM_URL = "/v1/payment_intents/{id}/confirm"
_confirm = resources.PaymentIntent._api_confirm


def _confirm_off_session(id, payment_method=None, off_session=None, **kwargs):
    return _confirm(id, payment_method=payment_method, **kwargs)


def _teach_off_session() -> None:
    # The server registers its routes from this list when it is imported.
    resources.extra_apis[:] = [
        (method, url, _confirm_off_session if url == CONFIRM_URL else handler)
        for method, url, handler in resources.extra_apis
    ]


if __name__ == "__main__":
    _teach_off_session()
    from localstripe import server

    server.start()
