# Sourced by scripts/test: install the npm packages the platform tests drive (each folder of
# tests/node/ pins its own in package.json + package-lock.json), reinstalling a folder only
# when its lock file changed. Needs Node 20 and npm.
ensure_node_packages() {  # $1: a folder with package.json and package-lock.json
  local dir=$1 stamp="$1/node_modules/.hookkit-stamp" sum
  command -v npm >/dev/null || { echo "the platform tests need Node 20 and npm" >&2; return 1; }
  sum=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "installing npm packages of $dir ..." >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
    echo "$sum" > "$stamp"
  fi
}

ensure_all_node_packages() {
  local dir
  for dir in tests/node/*/; do
    [ -f "$dir/package-lock.json" ] && ensure_node_packages "${dir%/}"
  done
  return 0
}
