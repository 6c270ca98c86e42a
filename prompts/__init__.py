"""Prompt files, versioned and loaded as package data. This package imports nothing of the project.

Each ``NAME.yaml`` holds ``name``, ``version``, ``description``, ``variables`` (the names it needs) and
``messages`` (a list of ``{role, content}``). Content uses ``${variable}`` placeholders
(``string.Template``), so the braces of JSON examples need no escaping. Rendering fails on a missing
variable, and on a variable the prompt does not declare, instead of sending a half-filled prompt.

    >>> p = load("answer")
    >>> p.label
    'answer@v1'
    >>> messages = p.render(question="...", context="...", ticket="...", not_found="...")
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


class PromptError(ValueError):
    """A prompt file is malformed, or a rendering is missing a variable."""


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    description: str
    variables: tuple[str, ...]
    messages: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        """``answer@v3``: what an answer and an evaluation run record as the prompt they used."""
        return f"{self.name}@v{self.version}"

    def render(self, **values: Any) -> list[dict[str, str]]:
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise PromptError(f"prompt {self.label}: missing variable(s) {', '.join(missing)}")
        extra = [v for v in values if v not in self.variables]
        if extra:
            raise PromptError(f"prompt {self.label}: unknown variable(s) {', '.join(extra)}")
        out = []
        for role, content in self.messages:
            try:
                text = string.Template(content).substitute({k: str(v) for k, v in values.items()})
            except (KeyError, ValueError) as e:
                raise PromptError(f"prompt {self.label}: bad placeholder {e}") from None
            out.append({"role": role, "content": text})
        return out


def parse(name: str, text: str) -> Prompt:
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PromptError(f"prompt {name}: invalid YAML: {e}") from None
    if not isinstance(d, dict):
        raise PromptError(f"prompt {name}: expected a mapping")
    for key in ("version", "messages", "variables"):
        if key not in d:
            raise PromptError(f"prompt {name}: missing {key!r}")
    if not isinstance(d["version"], int) or d["version"] < 1:
        raise PromptError(f"prompt {name}: version must be a positive integer")
    variables = tuple(d["variables"])
    messages = []
    for m in d["messages"]:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or "content" not in m:
            raise PromptError(f"prompt {name}: each message needs a role (system|user|assistant) and content")
        used = {g[1] or g[2] for g in string.Template.pattern.findall(m["content"]) if g[1] or g[2]}
        undeclared = used - set(variables)
        if undeclared:
            raise PromptError(f"prompt {name}: undeclared variable(s) {', '.join(sorted(undeclared))}")
        messages.append((m["role"], m["content"]))
    return Prompt(d.get("name", name), d["version"], d.get("description", ""), variables, tuple(messages))


@lru_cache(maxsize=32)
def load(name: str) -> Prompt:
    """The packaged prompt ``name`` (``prompts/NAME.yaml``)."""
    try:
        text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"no prompt named {name!r} in the prompts package") from None
    return parse(name, text)


def available() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".yaml"))
