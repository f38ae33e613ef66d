"""Alerts: rules over the queues' figures, fired once per episode, delivered to webhooks and callables."""

from .delivery import Alert, Delivery
from .rules import AlertConfig, ConfigError, Rule, Webhook, load_config, load_file

__all__ = ["Alert", "AlertConfig", "ConfigError", "Delivery", "Rule", "Webhook", "load_config", "load_file"]
