#!/usr/bin/env bash
# Lock the side-by-side environment: the vendor SDK and everything it needs, hash-pinned, resolved
# for Python 3.12 and constrained to the versions uv.lock gives the project itself, so installing
# it beside the project changes none of the project's packages. overrides.txt replaces what a package
# declares where that clashes with the project's own pins (each line says why).
#
#   bash tests/sdk_side/lock.sh             # keep every pin already in requirements.txt, add what is missing
#   bash tests/sdk_side/lock.sh --upgrade   # take the newest versions the constraints allow
#
# Run it after changing requirements.in or uv.lock, and commit requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/sdk_side
# A fixed name, so the "# via" lines of the lock read the same on every run (removed after).
constraints=$here/uv-lock-constraints.txt
trap 'rm -f "$constraints"' EXIT
uv export --frozen --quiet --no-hashes --no-emit-project --all-groups --no-header -o "$constraints" >/dev/null
uv pip compile --quiet --python-version 3.12 --universal \
  --generate-hashes --no-header --custom-compile-command "bash tests/sdk_side/lock.sh" \
  -c "$constraints" --override "$here/overrides.txt" "$@" -o "$here/requirements.txt" "$here/requirements.in"
