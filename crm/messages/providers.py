"""Where messages leave the platform: SMTP for EMAIL, a signed HTTP POST for SMS and PUSH, or the log.

Every provider receives the message's idempotency key (its id). The HTTP provider sends it as the
``Idempotency-Key`` header, so a send repeated after a worker died mid-call is delivered once; SMTP has
no such header in the protocol, so the key becomes the Message-ID, which mail systems deduplicate on.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from crm import clock
from crm.enums import Channel
from crm.messages.unsubscribe import withhold_links   # a token in the log acts as the customer too

log = logging.getLogger("crm.messages.sent")


class ProviderError(Exception):
    """A provider refused or failed. ``retryable``: worth another attempt later (outage, throttling)."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Envelope:
    message_id: str
    channel: Channel
    address: str
    subject: str | None
    body: str
    trigger: str
    customer_id: str
    # CARE, FOLLOW_UP and CAMPAIGN messages: the one-click unsubscribe link (crm/messages/unsubscribe.py).
    unsubscribe_url: str | None = None


def provider_name(channel: Channel, config) -> str:
    if channel == Channel.EMAIL and config.get("MESSAGES_SMTP_HOST"):
        return "smtp"
    if channel in (Channel.SMS, Channel.PUSH) and config.get("MESSAGES_HTTP_URL"):
        return "http"
    return "log"


def send(envelope: Envelope, config) -> str:
    """Deliver; returns the provider's reference. Raises ProviderError."""
    name = provider_name(envelope.channel, config)
    return {"smtp": send_smtp, "http": send_http, "log": send_log}[name](envelope, config)


def send_log(envelope: Envelope, config) -> str:
    log.info("SENT %s to %s [%s] %s%s", envelope.channel.value, envelope.address, envelope.trigger,
             f"{envelope.subject} | " if envelope.subject else "",
             withhold_links(envelope.body.replace("\n", " "))[:200])
    return f"log:{envelope.message_id}"


def send_smtp(envelope: Envelope, config) -> str:
    email = EmailMessage()
    email["From"] = config["MESSAGES_FROM"]
    email["To"] = envelope.address
    email["Subject"] = envelope.subject or ""
    email["Message-ID"] = make_msgid(idstring=envelope.message_id, domain="crm.local")
    email["X-CRM-Message-Id"] = envelope.message_id
    email.set_content(envelope.body)
    if envelope.unsubscribe_url:
        # RFC 8058 one-click: the mailbox provider POSTs "List-Unsubscribe=One-Click" to the URL.
        email["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # A header longer than 78 characters would otherwise be folded into RFC 2047 words, which no mailbox
        # provider reads as a URL; 998 is SMTP's own limit. The body is encoded already.
        email.policy = email.policy.clone(max_line_length=998)
    host, port = config["MESSAGES_SMTP_HOST"], int(config["MESSAGES_SMTP_PORT"])
    security = str(config["MESSAGES_SMTP_SECURITY"]).lower()
    timeout = float(config["MESSAGES_PROVIDER_TIMEOUT"])
    try:
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.get("MESSAGES_SMTP_USERNAME"):
                client.login(config["MESSAGES_SMTP_USERNAME"], config.get("MESSAGES_SMTP_PASSWORD") or "")
            client.send_message(email)
    except smtplib.SMTPRecipientsRefused as exc:
        raise ProviderError(f"SMTP refused the recipient: {exc.recipients}", retryable=False) from None
    except smtplib.SMTPResponseException as exc:
        # 4xx is temporary by definition of the protocol; 5xx is final.
        raise ProviderError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise ProviderError(f"SMTP unavailable: {exc.__class__.__name__}: {exc}") from None
    return email["Message-ID"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def send_http(envelope: Envelope, config) -> str:
    payload = {"id": envelope.message_id, "channel": envelope.channel.value, "to": envelope.address,
               "subject": envelope.subject, "body": envelope.body, "trigger": envelope.trigger,
               "customerId": envelope.customer_id}
    if envelope.unsubscribe_url:
        payload["unsubscribeUrl"] = envelope.unsubscribe_url   # for a provider or app that offers its own button
    body = json.dumps(payload).encode()
    timestamp = str(int(clock.real_now().timestamp()))  # the receiver checks it against its own clock
    headers = {"Content-Type": "application/json", "Idempotency-Key": envelope.message_id,
               "X-CRM-Timestamp": timestamp}
    if config.get("MESSAGES_HTTP_SECRET"):
        headers["X-CRM-Signature"] = "v1=" + sign(config["MESSAGES_HTTP_SECRET"], timestamp, body)
    request = urllib.request.Request(config["MESSAGES_HTTP_URL"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=float(config["MESSAGES_PROVIDER_TIMEOUT"])) as response:
            answer = response.read(4096)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode(errors="replace")
        retryable = exc.code >= 500 or exc.code in (408, 409, 425, 429)
        raise ProviderError(f"HTTP provider answered {exc.code}: {detail}", retryable=retryable) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ProviderError(f"HTTP provider unreachable: {getattr(exc, 'reason', exc)}") from None
    try:
        return str(json.loads(answer).get("id") or envelope.message_id)
    except (ValueError, AttributeError):
        return envelope.message_id
