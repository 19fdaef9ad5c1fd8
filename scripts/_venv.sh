# Sourced by scripts/serve and scripts/test: make .venv hold exactly what a requirements file
# names, reinstalling only when that file (or what it includes) changed. Needs Python >= 3.11.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "hookkit needs Python 3.11 or newer ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 1; }

ensure_venv() {  # $1: requirements file
  local stamp=".venv/.stamp-$(basename "$1")" sum
  sum=$(cat requirements.txt "$1" | sha256sum | cut -d' ' -f1)
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "installing $1 into .venv ..." >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$1" >&2
    echo "$sum" > "$stamp"
  fi
}
