#!/usr/bin/env python3
"""Validates every line `tlsrpt parse` prints (read from stdin) against schema/report.schema.json."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
passed = failed = 0
for n, line in enumerate(sys.stdin, 1):
    errors = list(validator.iter_errors(json.loads(line)))
    if errors:
        failed += 1
        print(f"line {n}: {errors[0].json_path}: {errors[0].message}")
    else:
        passed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
