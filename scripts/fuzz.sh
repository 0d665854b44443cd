#!/usr/bin/env bash
# make fuzz: run every fuzz target of the repository, one after the other,
# for FUZZTIME each (default 30s; a count such as 5000x works too).
#   FUZZTIME=10s make fuzz          shorter
#   FUZZ=Segment make fuzz          only the targets whose name matches (grep -E)
#   FUZZPKGS=./daemon/... make fuzz only these packages
#   FUZZFLAGS='-parallel 1' make fuzz  extra go test flags
#   FUZZMINIMIZE=60s make fuzz      time to minimize each new input (default
#                                   5s: Go's 60 s default lets a few slow
#                                   inputs eat a 30 s run)
# Targets are found with `go test -list '^Fuzz'`, so a new one is picked up
# without touching this script. Prints per target the executions and the new
# interesting inputs; a crash fails the run (after the other targets ran) and
# its input stays in the package's testdata/fuzz/<target>/ to reproduce.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-30s}"
FUZZ="${FUZZ:-}"
read -r -a PKGS <<<"${FUZZPKGS:-./...}"
read -r -a EXTRA <<<"${FUZZFLAGS:-}"
EXTRA=(-fuzzminimizetime "${FUZZMINIMIZE:-5s}" "${EXTRA[@]}")

echo "fuzz: finding the fuzz targets (compiles every test binary)…"
targets=() # "package target"
names=()
listfail=0
while IFS= read -r line; do
  case "$line" in
    Fuzz*) names+=("$line") ;;
    "ok "*)
      pkg="$(awk '{print $2}' <<<"$line")"
      for n in "${names[@]}"; do
        if [ -z "$FUZZ" ] || grep -Eq -- "$FUZZ" <<<"$n"; then targets+=("$pkg $n"); fi
      done
      names=()
      ;;
    "FAIL"* | "#"*) echo "$line" >&2; listfail=1 ;;
    *) names=() ;; # "?  pkg [no test files]" and anything a TestMain prints
  esac
done < <("$GO" test -vet=off -list '^Fuzz' "${PKGS[@]}" 2>&1 || echo "FAIL: go test -list")
if [ "$listfail" = 1 ]; then
  echo "fuzz: listing the fuzz targets failed (above)" >&2
  exit 1
fi
if [ "${#targets[@]}" = 0 ]; then
  echo "fuzz: no fuzz target found${FUZZ:+ matching $FUZZ}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"

log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT
failed=()
skipped=()
short=()
printf '%-26s %-44s %14s %18s  %s\n' target package execs "new (corpus)" result
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  out="$log/$name.out"
  rc=0
  "$GO" test -v -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "${EXTRA[@]}" "$pkg" >"$out" 2>&1 || rc=$?
  # The last progress line: "fuzz: elapsed: 30s, execs: 12345 (411/sec), new interesting: 3 (total: 40)".
  last="$(grep -E '^fuzz: elapsed: .*execs: ' "$out" | tail -n 1 || true)"
  execs="$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")"
  newi="$(sed -nE 's/.*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\1 (\2)/p' <<<"$last")"
  result=ok
  if [ -z "$last" ] && [ "$rc" = 0 ]; then
    # FUZZTIME ran out while go was still replaying the corpus.
    base="$(sed -nE 's/.*gathering baseline coverage: ([0-9]+\/[0-9]+).*/\1/p' "$out" | tail -n 1)"
    if [ -n "$base" ]; then
      result="ok, but only the corpus ran (baseline $base): raise FUZZTIME"
      short+=("$name")
    fi
  fi
  if [ "$rc" != 0 ]; then
    result=FAILED
    input="$(sed -nE 's/^ *Failing input written to (.*)$/\1/p' "$out" | tail -n 1)"
    if [ -n "$input" ]; then
      input="$("$GO" list -f '{{.Dir}}' "$pkg")/$input"
      input="${input#"$PWD"/}"
    fi
    failed+=("$pkg $name ${input:-}")
  elif grep -q -- "--- SKIP: $name" "$out"; then
    # go -v prints the reason (indented) just before "--- SKIP".
    result="SKIPPED: $(grep -B1 -- "--- SKIP: $name" "$out" | head -n 1 | sed 's/^ *//')"
    skipped+=("$name ($result)")
  fi
  printf '%-26s %-44s %14s %18s  %s\n' "$name" "${pkg#github.com/weavetrace/weave/}" "${execs:--}" "${newi:--}" "$result"
  if [ "$rc" != 0 ]; then
    echo "----- $name ($pkg) -----"
    grep -vE '^(fuzz: elapsed: |=== RUN|=== NAME|--- PASS)' "$out" | tail -n 60
    echo "-----"
  fi
done

if [ "${#failed[@]}" != 0 ]; then
  echo >&2
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets FAILED:" >&2
  for f in "${failed[@]}"; do
    read -r pkg name input <<<"$f"
    if [ -n "$input" ]; then
      echo "  $name ($pkg): failing input $input; re-run: go test -run '^$name/$(basename "$input")\$' $pkg" >&2
    else
      echo "  $name ($pkg): failed before fuzzing (output above)" >&2
    fi
  done
  exit 1
fi
echo "fuzz: $((${#targets[@]} - ${#skipped[@]})) of ${#targets[@]} targets ran $FUZZTIME each without a failure"
for s in "${skipped[@]}"; do echo "fuzz: NOT RUN: $s"; done
if [ "${#short[@]}" != 0 ]; then echo "fuzz: replayed their corpus but did not fuzz in $FUZZTIME: ${short[*]}"; fi
