#!/usr/bin/env bash
# Runs every Go fuzz target of both modules for FUZZTIME each (default 30s), one at a time.
# Usage: hack/fuzz.sh [name-regexp]   (e.g. hack/fuzz.sh 'FuzzLoad|FuzzEngine')
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
filter="${1:-.}"
status=0
for module in . wasm-waf; do
	# "path/to/file_test.go:func FuzzName(" → package directory and target name.
	while IFS=: read -r file line; do
		name="${line#func }"
		name="${name%%(*}"
		[[ "$name" =~ $filter ]] || continue
		dir="./$(dirname "${file#./}")"
		echo "== $module $dir $name ($fuzztime)"
		if ! (cd "$module" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir"); then
			status=1
		fi
	done < <(cd "$module" && grep -rE --include='*_test.go' --exclude-dir=.cache --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(' . |
		grep -v '^./wasm-waf/' | sed -E 's/^([^:]*):(func Fuzz[A-Za-z0-9_]*)\(.*/\1:\2(/' | sort)
done
exit $status
