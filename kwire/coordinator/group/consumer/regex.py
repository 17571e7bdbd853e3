"""Regular-expression subscriptions of consumer groups (KIP-848).

A member may subscribe with a regular expression (Kafka uses Google's RE2/J syntax);
the coordinator resolves it against the topic names, whole-name matches only, and
keeps the result per group as a record. Kafka resolves in the background and at
most every 10 s; a new regex, a new topic or `group.consumer.regex.refresh.interval.ms`
passing asks for a new resolution, whose result bumps the group epoch when the
matched topics changed.

Python's `re` is used for RE2/J's syntax: the common subset is the same; RE2-only
constructs Python lacks are refused as invalid, and Python-only ones (backreferences,
lookaround), which RE2/J refuses, are refused here too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from kwire.errors import ErrorCode, KwireError

# Kafka's minimum time between two resolutions of a group's regexes.
MIN_REFRESH_INTERVAL_MS = 10_000

# RE2's named group `(?<name>...)` is Python's `(?P<name>...)` (not a lookbehind).
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
# Constructs RE2 does not support: backreferences and lookaround.
_NOT_RE2 = re.compile(r"\\[1-9]|\(\?(?:=|!|<=|<!|P=)")


class RegexStatus(enum.Enum):
    """Kafka's UpdateRegularExpressionStatus."""

    NO_CHANGE = "no_change"
    UPDATED = "updated"
    UPDATED_AND_RESOLVED = "updated_and_resolved"


def check_regex(regex: str) -> re.Pattern[str]:
    """Compile a subscription regex; INVALID_REGULAR_EXPRESSION when it is not one,
    with RE2/J's description of the error where kwire knows it."""
    if _NOT_RE2.search(regex):
        raise _invalid(regex, "invalid or unsupported Perl syntax"
                       if "(?" in regex else "invalid escape sequence")
    try:
        return re.compile(_NAMED_GROUP.sub("(?P<", regex))
    except re.error as exc:
        raise _invalid(regex, _re2_description(exc.msg)) from exc


def _invalid(regex: str, description: str) -> KwireError:
    return KwireError(ErrorCode.INVALID_REGULAR_EXPRESSION,
                      f"SubscribedTopicRegex `{regex}` is not a valid regular expression: "
                      f"{description}.")


# Python's error -> RE2/J's PatternSyntaxException description.
_RE2_DESCRIPTIONS = (
    ("unterminated character set", "missing closing ]"),
    ("nothing to repeat", "missing argument to repetition operator"),
    ("multiple repeat", "invalid nested repetition operator"),
    ("missing ), unterminated subpattern", "missing closing )"),
    ("unbalanced parenthesis", "unexpected )"),
    ("bad character range", "invalid character class range"),
    ("bad escape", "invalid escape sequence"),
)


def _re2_description(message: str) -> str:
    for python, re2 in _RE2_DESCRIPTIONS:
        if message.startswith(python):
            return re2
    return message


def resolve(regex: str, topic_names: Iterable[str]) -> frozenset[str]:
    """The topics whose whole name the regex matches (RE2/J's `matches()`); internal
    topics included, as Kafka includes them."""
    try:
        pattern = check_regex(regex)
    except KwireError:
        return frozenset()
    return frozenset(name for name in topic_names if pattern.fullmatch(name))
