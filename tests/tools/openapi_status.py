#!/usr/bin/env python3
"""openapi_status.py SPEC: read "METHOD PATTERN STATUS" lines on stdin
(what the live daemon answered) and print each one docs/openapi.yaml
does not document for that operation ("undocumented: ..."). Exits 1 if
any is missing."""
import sys
import yaml

spec = yaml.safe_load(open(sys.argv[1]))
missing = 0
for line in sys.stdin:
    parts = line.split()
    if len(parts) != 3:
        continue
    method, pattern, status = parts
    op = spec.get("paths", {}).get(pattern, {}).get(method.lower())
    codes = set(str(c) for c in (op or {}).get("responses", {}))
    if status not in codes:
        print("undocumented: %s %s answers %s (documented: %s)"
              % (method, pattern, status, ", ".join(sorted(codes)) or "none"))
        missing += 1
sys.exit(1 if missing else 0)
