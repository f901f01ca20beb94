"""`llmdeploy plan`: what a stack would create, from an offline run of its program.

The JSON document is a stable, documented format (docs/plan-format.md), since
`llmdeploy diff` compares two of them:

    {"stack": str, "project": str,
     "resources": [{"urn", "type", "name", "parent", "custom", "inputs", "dependencies"}],
     "outputs": {...}}

Inputs carry the provider's own (camelCase) property names. Secret values are
"[secret]" and values a provider computes at deploy time are "[computed]", in
every format.
"""

from __future__ import annotations

import json
from typing import Any

from llmdeploy.cli.mockrun import ProgramRun, describe_resource_count, plain_struct
from llmdeploy.core.userdata_reading import readable_user_data

FORMATS = ("text", "json", "markdown")


def plan_document(run: ProgramRun) -> dict[str, Any]:
    return {
        "stack": run.stack,
        "project": run.project,
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent or None,
                "custom": resource.custom,
                "inputs": plain_struct(resource.inputs),
                "dependencies": sorted(set(resource.dependencies)),
            }
            # Sorted by URN: registration order depends on async timing, and
            # reviewers and `llmdeploy diff` want the same plan twice.
            for resource in sorted(run.resources, key=lambda r: r.urn)
        ],
        "outputs": plain_struct(run.outputs),
    }


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        if not value:
            return []
        rows: list[tuple[str, Any]] = []
        for key, item in value.items():
            rows.extend(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return rows
    if isinstance(value, list) and value:
        rows = []
        for index, item in enumerate(value):
            rows.extend(_flatten(item, f"{prefix}[{index}]"))
        return rows
    return [(prefix, value)]


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _text_rows(value: Any, indent: str) -> list[str]:
    lines = []
    for key, item in _flatten(value):
        text = _scalar(item)
        # Launch templates take user data base64-encoded (gzipped, MIME multipart); reviewers read text.
        readable = readable_user_data(text) if key.rsplit(".", 1)[-1] == "userData" else None
        if readable is not None:
            lines.append(f"{indent}{key}: ({readable.how}; decoded for reading) |")
            lines.extend(f"{indent}    {line}" for line in readable.text.splitlines())
        elif "\n" in text:
            lines.append(f"{indent}{key}: |")
            lines.extend(f"{indent}    {line}" for line in text.splitlines())
        else:
            lines.append(f"{indent}{key}: {text}")
    return lines


def _short_parent(document: dict[str, Any], parent: str | None) -> str:
    if not parent:
        return ""
    return parent.rsplit("::", 1)[-1]


def format_text(document: dict[str, Any]) -> str:
    resources = document["resources"]
    count = describe_resource_count(len(resources))
    lines = [f"Stack {document['stack']} (project {document['project']}): {count}"]
    for resource in resources:
        parent = _short_parent(document, resource["parent"])
        where = f"  (in {parent})" if parent else ""
        lines.append("")
        lines.append(f"+ {resource['type']}  {resource['name']}{where}")
        lines.extend(_text_rows(resource["inputs"], "    "))
    lines.append("")
    lines.append("Outputs:")
    lines.extend(_text_rows(document["outputs"], "    ") or ["    (none)"])
    return "\n".join(lines) + "\n"


def _md_cell(value: Any) -> str:
    return _scalar(value).replace("|", "\\|").replace("\n", "<br>")


def format_markdown(document: dict[str, Any]) -> str:
    resources = document["resources"]
    lines = [
        f"### Stack `{document['stack']}` (project `{document['project']}`): "
        f"{describe_resource_count(len(resources))}",
        "",
        "| Type | Name | Parent |",
        "| --- | --- | --- |",
    ]
    for resource in resources:
        lines.append(
            f"| `{resource['type']}` | `{resource['name']}` | {_short_parent(document, resource['parent'])} |"
        )
    lines += ["", "#### Outputs", "", "| Output | Value |", "| --- | --- |"]
    for key, value in _flatten(document["outputs"]):
        lines.append(f"| `{key}` | {_md_cell(value)} |")
    lines += ["", "#### Inputs", ""]
    for resource in resources:
        lines.append(
            f"<details><summary><code>{resource['type']}</code> <code>{resource['name']}</code></summary>"
        )
        lines.append("")
        lines.append("```yaml")
        lines.extend(_text_rows(resource["inputs"], ""))
        lines.append("```")
        lines.append("</details>")
        lines.append("")
    return "\n".join(lines)


def format_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def render(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return format_json(document)
    if fmt == "markdown":
        return format_markdown(document)
    return format_text(document)
