#!/usr/bin/env bash
# The README shows exactly the quickstart that `make demo` runs.
set -euo pipefail
cd "${MF_ROOT:-$(dirname "$0")/../..}"
python3 - <<'PY'
import sys
quickstart = open("examples/quickstart.sql").read().rstrip("\n")
if quickstart not in open("README.md").read():
    sys.exit("README.md does not contain examples/quickstart.sql verbatim")
PY
