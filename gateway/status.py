"""`rejected` or `failed`: why a dispute run ended without a settlement.

A run is `rejected` when the dispute itself was refused by a rule only the run can check
(intake's validation of a joint filing's sealed sides, a tenant's reveal naming precedents
the index does not hold): resubmitting the same input cannot succeed, and the answer names
the field and the rule. Every other unsuccessful end (a crash, a node gone, a pause that
timed out, a cancelled run, a bug) is `failed`: the input may well be fine.

The run tells which through its final state's message. Prefect writes a flow's exception
there as `"<ExceptionType>: <str(exc)>"`, and every refusal of bad input in DALRN is an
`InputError` (or a subclass), whose text has one fixed shape (`dalrn_core.errors`):
`invalid <subject>:` and then one `  - <field>: <rule>` line per problem. That shape is
what is matched, so a subclass of `InputError` counts without being listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dalrn_core.errors import Problem

REJECTED, FAILED = "rejected", "failed"

# "...: SomeError: invalid <subject>:\n  - <field>: <rule>\n  - ..." (InputError's text).
_INPUT_ERROR = re.compile(
    r"(?:^|:\s)(?P<type>[A-Za-z_][\w.]*): invalid (?P<subject>[^:\n]+):\n(?P<problems>(?:  - [^\n]+(?:\n|$))+)"
)


@dataclass(frozen=True)
class Rejection:
    """What the run refused: the subject (a dispute, a reveal) and each broken rule."""

    subject: str
    problems: list[Problem]

    @property
    def message(self) -> str:
        return f"invalid {self.subject}: " + "; ".join(str(p) for p in self.problems)


def rejection_of(state_type: str, message: str | None) -> Rejection | None:
    """The refused input named by a FAILED run's state message, or None if it failed otherwise."""
    if state_type != "FAILED" or not message:
        return None
    found = _INPUT_ERROR.search(message)
    if found is None:
        return None
    problems = []
    for line in found["problems"].splitlines():
        field, _, rule = line.removeprefix("  - ").partition(": ")
        problems.append(Problem(field, rule) if rule else Problem("input", field))
    return Rejection(found["subject"], problems)


def failed_or_rejected(state_type: str, message: str | None) -> str:
    """`rejected` for a run that refused its input, else `failed` (for a run that did not settle)."""
    return REJECTED if rejection_of(state_type, message) is not None else FAILED
