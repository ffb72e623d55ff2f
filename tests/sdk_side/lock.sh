#!/usr/bin/env bash
# Lock the side-by-side environment: the vendor SDK and everything it needs, hash-pinned, resolved
# for Python 3.12 and constrained to the versions uv.lock gives the project itself, so installing
# it beside the project changes none of the project's packages.
#
#   bash tests/sdk_side/lock.sh             # keep every pin already in requirements.txt, add what is missing
#   bash tests/sdk_side/lock.sh --upgrade   # take the newest versions the constraints allow
#
# Run it after changing requirements.in or uv.lock, and commit requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/sdk_side
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
uv export --frozen --quiet --no-hashes --no-emit-project --all-groups --no-header -o "$constraints" >/dev/null
uv pip compile --quiet --python-version 3.12 --universal \
  --generate-hashes --no-header --custom-compile-command "bash tests/sdk_side/lock.sh" \
  -c "$constraints" "$@" -o "$here/requirements.txt" "$here/requirements.in"
