"""A griffe extension for the API reference (mkdocs.yml: mkdocstrings' ``extensions``).

vtlab's docstrings refer to other objects the Sphinx way, ``:class:`~vtlab.vt.fpn.VTFPN```. mkdocstrings renders
docstrings as Markdown, where such a role would show as literal text; this turns each one into inline code that
links to the object's entry in the API reference when it has one (an optional cross-reference: a name the
reference does not document stays plain code, without a warning).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`(?P<tilde>~?)(?P<name>[\w.]+)(?:\(\))?`")


def resolve(obj: griffe.Object, name: str) -> str:
    """The full path of ``name`` as written in ``obj``'s docstring: absolute, or relative to its scope."""
    if name.startswith("vtlab."):
        return name
    head, _, rest = name.partition(".")
    try:
        path = obj.resolve(head)
    except (griffe.NameResolutionError, AttributeError, KeyError, ValueError):
        return name
    return f"{path}.{rest}" if rest else path


def render_roles(obj: griffe.Object, text: str) -> str:
    def link(match: re.Match) -> str:
        name = match["name"]
        title = name.rsplit(".", 1)[-1] if match["tilde"] else name
        return f'<autoref identifier="{escape(resolve(obj, name))}" optional><code>{escape(title)}</code></autoref>'

    return ROLE.sub(link, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles in every docstring of the loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._visit(pkg, seen=set())

    def _visit(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = render_roles(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._visit(member, seen)
