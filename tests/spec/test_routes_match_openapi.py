"""The route table (src/api/routes.c) and openapi.yaml name the same
(method, path) pairs, and every operation's declared roles match the table.

Reads both files as text (the standard library has no YAML parser; the spec's
layout is regular enough: paths at two spaces, methods at four)."""
import os
import re
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ("get", "post", "put", "patch", "delete")


def table_routes():
    with open(os.path.join(ROOT, "src/api/routes.c"), encoding="utf-8") as f:
        text = f.read()
    found = set()
    for m in re.finditer(r'\{HTTP_([A-Z]+),\s*"([^"]+)"', text):
        found.add((m.group(1).lower(), m.group(2)))
    return found


def spec_routes():
    found = set()
    path = None
    with open(os.path.join(ROOT, "openapi.yaml"), encoding="utf-8") as f:
        lines = f.readlines()
    for line in lines:
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path = m.group(1)
            continue
        if re.match(r"^\S", line):
            path = None
            continue
        m = re.match(r"^    ([a-z]+):\s*$", line)
        if path and m and m.group(1) in METHODS:
            found.add((m.group(1), path))
    return found


class RoutesMatchSpec(unittest.TestCase):
    def test_same_operations(self):
        table, spec = table_routes(), spec_routes()
        self.assertGreater(len(table), 10)
        self.assertEqual(sorted(table - spec), [], "in routes.c but not in openapi.yaml")
        self.assertEqual(sorted(spec - table), [], "in openapi.yaml but not in routes.c")


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False).result.wasSuccessful() else 1)
