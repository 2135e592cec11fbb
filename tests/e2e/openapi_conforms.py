"""Whether a saved answer conforms to schema/openapi.yaml: ROUTE METHOD STATUS FILE.
Prints the schema errors and exits 1 when it does not (for the shell-driven end-to-end tests)."""
import json
import sys
from pathlib import Path

import jsonschema
import yaml

route, method, status, path = sys.argv[1:5]
spec = yaml.safe_load(Path("schema/openapi.yaml").read_text())
resolver = jsonschema.RefResolver.from_schema(spec)  # Debian 12's jsonschema 4.10 has no `referencing`
responses = spec["paths"][route][method.lower()]["responses"]
if status not in responses:
    sys.exit(f"{method} {route}: status {status} is not documented")
resp = responses[status]
if "$ref" in resp:
    resp = resolver.resolve(resp["$ref"])[1]
schema = resp["content"]["application/json"]["schema"]
errors = [e.message for e in jsonschema.Draft202012Validator(schema, resolver=resolver).iter_errors(json.load(open(path)))]
print("\n".join(errors[:5]))
sys.exit(1 if errors else 0)
