"""Whether a saved answer conforms to schema/openapi.yaml: ROUTE METHOD STATUS FILE.
Prints the schema errors and exits 1 when it does not (for the shell-driven end-to-end tests).
As a module, `OpenAPI` serves http_test.py the same lookups."""
import json
import sys
from pathlib import Path
from urllib.parse import quote

import jsonschema
import yaml

SPEC_URI = "urn:tlsrpt:openapi"


class OpenAPI:
    def __init__(self, path="schema/openapi.yaml"):
        self.spec = yaml.safe_load(Path(path).read_text())
        try:  # jsonschema 4.18 and later resolve $ref through `referencing` (RefResolver is deprecated)
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012
            self.registry = Registry().with_resource(
                SPEC_URI, Resource.from_contents(self.spec, default_specification=DRAFT202012))
        except ImportError:  # Debian 12's python3-jsonschema 4.10 has no `referencing`
            self.registry = None
            self.resolver = jsonschema.RefResolver(SPEC_URI, self.spec)

    def response(self, route, method, status):
        """The documented response (its $ref followed) and its JSON pointer, or (None, None)."""
        resp = self.spec["paths"][route][method.lower()]["responses"].get(str(status))
        pointer = "/" + "/".join(p.replace("~", "~0").replace("/", "~1")
                                 for p in ("paths", route, method.lower(), "responses", str(status)))
        if resp is not None and "$ref" in resp:
            pointer = resp["$ref"].removeprefix("#")
            resp = self.resolve(pointer)
        return resp, pointer

    def resolve(self, pointer):
        node = self.spec
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, pointer, body):
        """The schema errors of `body` against the schema at `pointer` in the document."""
        schema = {"$ref": SPEC_URI + "#" + quote(pointer, safe="/~")}
        if self.registry is not None:
            validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
        else:
            validator = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        return [e.message for e in validator.iter_errors(body)]


if __name__ == "__main__":
    route, method, status, path = sys.argv[1:5]
    api = OpenAPI()
    resp, pointer = api.response(route, method, status)
    if resp is None:
        sys.exit(f"{method} {route}: status {status} is not documented")
    errors = api.errors(pointer + "/content/application~1json/schema", json.load(open(path)))
    print("\n".join(errors[:5]))
    sys.exit(1 if errors else 0)
