#!/usr/bin/env bash
# The faults scenario through a driver over many seeds: a correct driver must
# pass every one (no false positive), and the report says what each judged.
# Writes reports/faults-seeds-<driver name>.md.
#
# usage: benches/faults-seeds.sh CUTOVER_BIN 'DRIVER COMMAND' [SEEDS] [OPERATIONS]
#   e.g. benches/faults-seeds.sh target/debug/cutover 'node drivers/outbox/main.mjs' 20 400
set -euo pipefail

bin=$1 driver=$2 seeds=${3:-20} operations=${4:-400}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for seed in $(seq 1 "$seeds"); do
  "$bin" replay "$here/scenarios/faults.toml" --seed "$seed" --operations "$operations" \
    --driver "$driver" --profile "$here/profiles/electrodb.toml" --out "$out/records" \
    >"$out/$seed.log" 2>&1 || true
  echo "seed $seed done" >&2
done

commit=$(git -C "$here" log -1 --format=%h)$(git -C "$here" diff --quiet HEAD || echo '+changes')
python3 - "$out/records" "$driver" "$seeds" "$operations" "$here/reports" "$commit" <<'PY'
import glob, json, re, sys
records, driver, seeds, operations, reports, commit = sys.argv[1:]
rows, name, passed_all = [], "driver", True
for path in glob.glob(f"{records}/*.json"):
    r = json.load(open(path))
    name = r["driver"].split()[0]
    checks = {c["name"]: c for c in r["checks"]}
    failed = [c["name"] for c in r["checks"] if not c["passed"]]
    passed_all &= not failed
    reads = checks.get("in-run-reads", {}).get("detail", "")
    m = re.match(r"(\d+) of (\d+) ", reads)
    lagging = re.search(r"\((\d+) of them against more than one version", reads)
    settle = re.match(r"(\d+) of (\d+) settle", checks.get("settle-points", {}).get("detail", ""))
    rows.append((r["seed"], r["build_profile"], r["operations"], m.group(2) if m else "-",
                 lagging.group(1) if lagging else "0", f"{settle.group(1)}/{settle.group(2)}" if settle else "-",
                 ", ".join(failed) or "none"))
rows.sort()
out = [f"# The faults scenario through `{driver}`, {seeds} seeds", "",
       f"Written by `benches/faults-seeds.sh` at {commit} ({operations} operations per seed, embedded engines, "
       f"{'/'.join(sorted({r[1] for r in rows}))} build). "
       f"{'Every seed passed every check.' if passed_all and len(rows) == int(seeds) else 'NOT every seed passed: see the failed checks.'}",
       "Reads judged: the in-run reads judged (`in-run-reads`), of which lenient: those judged against more "
       "than one version of what they show (writes made while a fault was in force may not yet have reached "
       "every store).", "",
       "| seed | operations | reads judged | of them lenient | settle points judged | failed checks |",
       "| --- | --- | --- | --- | --- | --- |"]
out += [f"| {s} | {o} | {j} | {l} | {p} | {f} |" for s, _, o, j, l, p, f in rows]
open(f"{reports}/faults-seeds-{name}.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
sys.exit(0 if passed_all and len(rows) == int(seeds) else 1)
PY
