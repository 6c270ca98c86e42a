"""A tenant's tag taxonomy: dimensions, their allowed values and synonyms, and which dimensions take a
single value (``single: true``: a record has at most one of them). It is stored per tenant in the
store (``assistant.store.taxonomies``); YAML (``taxonomy.yaml``) is its import and export format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .text import normalise


class TaxonomyError(InputError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TaxonomySyntaxError(InputError):
    """The text is not YAML at all (the API answers 400, where a well-formed but wrong taxonomy is a 422)."""

    def __init__(self, where: str, line: int | None, problem: str) -> None:
        super().__init__(f"{where}{f' line {line}' if line else ''}: invalid YAML: {problem}")
        self.line = line
        self.problem = problem


@dataclass
class TagValue:
    synonyms: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class Taxonomy:
    dimensions: dict[str, dict[str, TagValue]]
    single: set[str] = field(default_factory=set)  # dimensions that take one value

    def is_single(self, tag_or_dimension: str) -> bool:
        """Whether the dimension (or the dimension of a ``dimension/value`` tag) takes one value."""
        return tag_or_dimension.partition("/")[0] in self.single

    @property
    def tags(self) -> list[str]:
        return [f"{d}/{v}" for d, values in self.dimensions.items() for v in values]

    def __contains__(self, tag: str) -> bool:
        dim, _, value = tag.partition("/")
        return value in self.dimensions.get(dim, {})

    def synonyms(self) -> dict[str, list[str]]:
        """``tag -> [value, synonyms...]``."""
        return {f"{d}/{v}": [v, *tv.synonyms] for d, values in self.dimensions.items() for v, tv in values.items()}

    def synonym_groups(self) -> list[list[str]]:
        """Each value with its synonyms, normalised (simplified, half-width, lower-case) for matching."""
        return [sorted({normalise(w).lower() for w in words if str(w).strip()}) for words in self.synonyms().values()]

    @classmethod
    def parse(cls, text: str, where: str = "the taxonomy") -> Taxonomy:
        """The taxonomy a YAML (or JSON) text holds; ``TaxonomySyntaxError`` when it is not YAML,
        ``TaxonomyError`` naming the field when it is not a taxonomy."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise TaxonomySyntaxError(where, mark.line + 1 if mark is not None else None,
                                      str(e).splitlines()[0]) from None
        return parse_taxonomy(data)

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise InputError(f"no taxonomy at {path}; import one with: casepilot ingest --kind taxonomy FILE") from None
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not a readable taxonomy: {str(e).splitlines()[0]}") from e
        return parse_taxonomy(data)


def parse_taxonomy(data: Any) -> Taxonomy:
    if not isinstance(data, dict) or not isinstance(data.get("dimensions"), dict) or not data["dimensions"]:
        raise TaxonomyError("dimensions",
                            "the file needs a top-level 'dimensions:' mapping with at least one dimension")
    dims: dict[str, dict[str, TagValue]] = {}
    single: set[str] = set()
    for dim, spec in data["dimensions"].items():
        where = f"dimensions.{dim}"
        if not isinstance(dim, str) or "/" in dim or not dim.strip():
            raise TaxonomyError(where, "a dimension name must be non-empty text without '/'")
        if not isinstance(spec, dict) or not isinstance(spec.get("values"), dict) or not spec["values"]:
            raise TaxonomyError(where, "needs a 'values:' mapping with at least one value")
        if not isinstance(spec.get("single", False), bool):
            raise TaxonomyError(f"{where}.single", "must be true or false")
        if spec.get("single"):
            single.add(dim)
        values: dict[str, TagValue] = {}
        for value, vspec in spec["values"].items():
            vwhere = f"{where}.values.{value}"
            if not isinstance(value, str) or "/" in value or not value.strip():
                raise TaxonomyError(vwhere, "a value must be non-empty text without '/'")
            vspec = {} if vspec is None else vspec  # "打印机:" with nothing after it
            if not isinstance(vspec, dict):
                raise TaxonomyError(vwhere, "must be a mapping like {synonyms: [...], description: ...}")
            syn = vspec.get("synonyms")
            syn = [] if syn is None else syn
            if not isinstance(syn, list) or not all(_scalar(s, float_ok=False) for s in syn):
                raise TaxonomyError(f"{vwhere}.synonyms", "must be a list of text")
            desc = vspec.get("description")
            if desc is not None and not _scalar(desc):
                raise TaxonomyError(f"{vwhere}.description", "must be text")
            values[value] = TagValue([str(s) for s in syn], "" if desc is None else str(desc))
        dims[dim] = values
    return Taxonomy(dims, single)


def _scalar(x: Any, float_ok: bool = True) -> bool:
    """Text, or a number YAML read from unquoted digits (never true/false, lists or mappings)."""
    if isinstance(x, bool):
        return False
    return isinstance(x, str | int | float) if float_ok else isinstance(x, str | int)
