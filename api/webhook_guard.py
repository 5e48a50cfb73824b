"""Refuse unsafe webhook URLs at submit time (400); delivery checks again before connecting."""

from __future__ import annotations

from api.app import services
from api.problems import ApiProblem


def check_webhook_url(url: str) -> None:
    from workers.webhooks.ssrf import UnsafeUrl, check_url, parse_allowlist

    st = services().settings
    try:
        check_url(url, allow_http=st.webhook_allow_http, allow_cidrs=parse_allowlist(st.webhook_allow_private))
    except UnsafeUrl as err:
        raise ApiProblem(400, "unsafe_webhook_url", f"webhook_url refused: {err}") from None
