"""The RabbitMQ sink's failures in words an operator can act on; never the password."""

from __future__ import annotations

import aiormq

from collector.config import RabbitMQConfig


def reason(config: RabbitMQConfig, err: BaseException) -> str:
    text = refusal(config, err) or (f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
    password = config.password.get_secret_value()
    return text.replace(password, "***") if password else text


def refusal(config: RabbitMQConfig, err: BaseException) -> str | None:
    """The broker's refusal of our login or vhost, in words naming what to fix (None: other)."""
    user, vhost = config.username, config.virtual_host
    if isinstance(err, aiormq.exceptions.ProbableAuthenticationError):
        return (f"login refused for user '{user}' (ACCESS_REFUSED): check rabbitmq.username and "
                "rabbitmq.password")
    close = next((arg for arg in getattr(err, "args", ()) if hasattr(arg, "reply_text")), None)
    if close is None:
        return None
    reply = f"{close.reply_text} ({close.reply_code})"
    if "not found" in close.reply_text:
        return f"virtual host '{vhost}' does not exist: {reply}; create it (rabbitmqctl add_vhost) or fix rabbitmq.virtual_host"
    if "refused for user" in close.reply_text:
        return (f"user '{user}' may not use virtual host '{vhost}': {reply}; grant it "
                f"(rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*')")
    return f"the broker closed the connection: {reply}"
