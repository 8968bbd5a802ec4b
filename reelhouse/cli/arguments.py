"""Argument types of the command line: each refuses a bad value with one line, not a traceback."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime

from foundation.settings import parse_memory


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number above 0, got 0")
    return value


def ratio(text: str) -> float:
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a ratio between 0 and 1, got {text}")
    return value


def score(text: str) -> float:
    value = non_negative_float(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 100, got {text}")
    return value


def start_time(text: str) -> datetime | None:
    if text == "now":
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 time or 'now', got {text!r}") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {value}")
    return value


def incident(text: str) -> tuple[str, str]:
    from ingestion.generator import parse_incident

    try:
        return parse_incident(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def sizes(text: str) -> list[int]:
    return [positive_int(part.strip()) for part in text.split(",")]


def layers(text: str) -> list[str]:
    from reelhouse.maintenance.job import LAYERS

    layers = [part.strip() for part in text.split(",") if part.strip()]
    if not layers or any(layer not in LAYERS for layer in layers):
        raise argparse.ArgumentTypeError(f"expected layers from {','.join(LAYERS)}, got {text!r}")
    return layers


def memory(text: str) -> str:
    try:
        return parse_memory(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number up to 65535, got {value}")
    return value


HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9a-fA-F:]+")


def host_names(text: str) -> list[str]:
    """Host names or addresses, comma-separated: what a certificate may name."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or not all(HOST_NAME.fullmatch(name) for name in names):
        raise argparse.ArgumentTypeError(f"expected host names or addresses separated by commas, got {text!r}")
    return names
