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


def pointer(*parts):
    """The JSON pointer to parts[0]/parts[1]/... ('~' and '/' in a part escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class OpenAPI:
    def __init__(self, path="schema/openapi.yaml"):
        self.spec = yaml.safe_load(Path(path).read_text())
        try:  # jsonschema 4.18 and later resolve $ref through `referencing` (RefResolver is deprecated)
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012
            self.refs = {"registry": Registry().with_resource(
                SPEC_URI, Resource.from_contents(self.spec, default_specification=DRAFT202012))}
        except ImportError:  # Debian 12's python3-jsonschema 4.10 has no `referencing`
            self.refs = {"resolver": jsonschema.RefResolver(SPEC_URI, self.spec)}

    def response(self, route, method, status):
        """The documented response (its $ref followed) and its JSON pointer, or (None, None)."""
        at = pointer("paths", route, method.lower(), "responses", status)
        resp = self.spec["paths"][route][method.lower()]["responses"].get(str(status))
        if resp is not None and "$ref" in resp:
            at = resp["$ref"].removeprefix("#")
            resp = self.spec
            for part in at.strip("/").split("/"):
                resp = resp[part.replace("~1", "/").replace("~0", "~")]
        return resp, at

    def body_errors(self, response_at, media_type, body):
        """The schema errors of `body` against the schema of `media_type` in the response at `response_at`."""
        schema = {"$ref": SPEC_URI + "#" + quote(response_at + pointer("content", media_type, "schema"), safe="/~")}
        return [e.message for e in jsonschema.Draft202012Validator(schema, **self.refs).iter_errors(body)]


if __name__ == "__main__":
    route, method, status, path = sys.argv[1:5]
    api = OpenAPI()
    resp, at = api.response(route, method, status)
    if resp is None:
        sys.exit(f"{method} {route}: status {status} is not documented")
    errors = api.body_errors(at, "application/json", json.load(open(path)))
    print("\n".join(errors[:5]))
    sys.exit(1 if errors else 0)
