"""Refuse unsafe webhook URLs at submit and registration time (400); delivery checks again before connecting."""

from __future__ import annotations

from api.context import services, tenant
from shared.errors import UnsafeWebhookUrl


def check_webhook_url(url: str, *, field: str = "webhook_url", ensure_secret: bool = True) -> None:
    """400 unless the SSRF guard accepts ``url``.

    A job's own ``webhook_url`` is signed with the tenant's default secret, so its first use
    creates that secret (``ensure_secret``); registered endpoints bring their own.
    """
    from shared.webhooks.ssrf import UnsafeUrl, check_url, parse_allowlist, resolver_for

    s = services()
    st = s.settings
    try:
        check_url(url, allow_http=st.webhook_allow_http, allow_cidrs=parse_allowlist(st.webhook_allow_private),
                  resolver=resolver_for(st.webhook_dns))
    except UnsafeUrl as err:
        raise UnsafeWebhookUrl(f"{field} refused: {err}") from None
    if ensure_secret:
        from shared.webhooks.endpoints import EndpointStore

        EndpointStore(s.redis).ensure_default_secret(tenant())
