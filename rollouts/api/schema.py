"""Touches to the generated OpenAPI schema (drf-spectacular postprocessing hooks)."""

IDS = {"id", "gate_id", "item_id", "step_id"}


def path_id_examples(result, generator, request, public):
    """Give every id in a path an example (1), so that the docs' "Try it out" and schema-driven
    testers start from an object that likely exists rather than from a random number."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") in IDS and "example" not in parameter:
                    parameter["example"] = "1" if parameter.get("schema", {}).get("type") == "string" else 1
    return result
