#!/usr/bin/env python3
"""The layering rule, checked: every folder of src/ says in its README which other layers it may
include ("May include `core/`, `io/`." or "May include nothing of scanlab's."), and that list must be
exactly the set of layers its sources include. Prints each drift and exits 1; CTest runs it
(layers.may_include)."""
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
layers = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
failed = False
for layer in layers:
    included = set()
    for folder, _, files in os.walk(os.path.join(root, layer)):
        for name in files:
            if not re.search(r"\.(h|cpp|cu|cuh)$", name):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                for m in re.finditer(r'#include "([a-z_]+)/', f.read()):
                    if m.group(1) != layer and m.group(1) in layers:
                        included.add(m.group(1))
    readme = os.path.join(root, layer, "README.md")
    text = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    m = re.search(r"May include (.*?)\.(\s|$)", text, re.S)
    if not m:
        print(f"src/{layer}/README.md: no 'May include ...' line; its sources include {sorted(included)}")
        failed = True
        continue
    allowed = set(re.findall(r"`([a-z_]+)/`", m.group(1)))
    for extra in sorted(included - allowed):
        print(f"src/{layer}/ includes {extra}/, which its README does not allow")
        failed = True
    for unused in sorted(allowed - included):
        print(f"src/{layer}/README.md allows {unused}/, which no source of the layer includes")
        failed = True
sys.exit(1 if failed else 0)
