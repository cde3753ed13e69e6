"""Errors that tell a user which field broke which rule.

Every rejection of bad input raises `InputError` (or a subclass) so the CLI can print the
message and exit non-zero, and an API can answer 4xx, without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (a dotted field path) and what rule."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class InputError(ValueError):
    """Bad input; carries every problem found, each naming its field and rule."""

    def __init__(self, problems: list[Problem] | Problem, *, subject: str = "input") -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.subject = subject
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {subject}:\n{lines}")

    @classmethod
    def one(cls, field: str, rule: str, *, subject: str = "input") -> InputError:
        return cls(Problem(field, rule), subject=subject)


class IntegrityError(RuntimeError):
    """Stored or received data failed a check (hash, signature, proof); names what failed."""
