#!/usr/bin/env bash
# Wall time of the shipped scenarios' replays on the embedded engines, one
# cutover binary against another (say, the commit before a change and the
# change), runs interleaved so both see the same machine. Writes
# reports/replay-wall-time.md and .json.
#
# usage: benches/replay-wall-time.sh BASELINE_BIN BASELINE_CHECKOUT CURRENT_BIN CURRENT_CHECKOUT [RUNS]
#
# Each binary replays its own checkout's scenarios (the scenario format may
# have changed between them); a checkout is named by its commit.
#
# Each replay is timed twice: the whole process (engines started and
# stopped, checks included) and the replay itself (`duration_ms` of its
# record: the workload, settle points included, end checks not).
set -euo pipefail

baseline=$1 baseline_root=$2 current=$3 current_root=$4 runs=${5:-3}
label() { echo "$(git -C "$1" log -1 --format='%h %s')$(git -C "$1" diff --quiet HEAD || echo ' (with uncommitted changes)')"; }
baseline_label=$(label "$baseline_root") current_label=$(label "$current_root")
scenarios=(smoke unicode churn transcripts-boundary faults)
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
results="$scratch/results.tsv"

for scenario in "${scenarios[@]}"; do
  for run in $(seq 1 "$runs"); do
    for side in baseline current; do
      bin=$baseline root=$baseline_root
      [[ $side == current ]] && bin=$current root=$current_root
      out="$scratch/$side-$scenario-$run"
      began=$(date +%s.%N)
      "$bin" replay "$root/scenarios/$scenario.toml" --out "$out" >"$out.log" 2>&1 || true
      ended=$(date +%s.%N)
      record=$(ls "$out"/replay-*.json | head -1)
      python3 - "$record" "$side" "$scenario" "$began" "$ended" >>"$results" <<'PY'
import json, sys
record, side, scenario, began, ended = sys.argv[1:]
r = json.load(open(record))
passed = all(c["passed"] for c in r["checks"])
print(f"{side}\t{scenario}\t{float(ended) - float(began):.2f}\t{r['duration_ms'] / 1000:.2f}\t{r['operations']}\t{r.get('build_profile', 'unknown')}\t{passed}")
PY
      echo "$side $scenario run $run: $(tail -1 "$results")" >&2
    done
  done
done

python3 - "$results" "$baseline_label" "$current_label" "$runs" "$here/reports" <<'PY'
import json, statistics, sys
results, base_label, cur_label, runs, reports = sys.argv[1:]
rows = [line.rstrip("\n").split("\t") for line in open(results)]
by = {}
for side, scenario, process_s, replay_s, ops, profile, passed in rows:
    by.setdefault((scenario, side), []).append((float(process_s), float(replay_s), int(ops), profile, passed == "True"))
scenarios = list(dict.fromkeys(r[1] for r in rows))
profiles = sorted({r[5] for r in rows})
out = [
    "# Replay wall time: the shipped scenarios before and after a change",
    "",
    f"Written by `benches/replay-wall-time.sh` ({runs} interleaved runs per side, median shown), "
    f"on the embedded engines, **{' / '.join(profiles)} build**. Baseline: {base_label}. Current: {cur_label}.",
    "Process: the whole `cutover replay` (engines started and stopped, end checks included). "
    "Replay: the record's `duration_ms` (the workload, settle points included).",
    "",
    "| scenario | operations | baseline process s | current process s | change | baseline replay s | current replay s | change | all passed |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]
summary = {}
for scenario in scenarios:
    base, cur = by[(scenario, "baseline")], by[(scenario, "current")]
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    bp, cp, br, cr = med(base, 0), med(cur, 0), med(base, 1), med(cur, 1)
    change = lambda b, c: f"{(c / b - 1) * 100:+.0f}%"
    passed = all(x[4] for x in base + cur)
    out.append(f"| {scenario} | {cur[0][2]} | {bp:.1f} | {cp:.1f} | {change(bp, cp)} | {br:.1f} | {cr:.1f} | {change(br, cr)} | {'yes' if passed else 'NO'} |")
    summary[scenario] = {"operations": cur[0][2], "baseline_process_s": bp, "current_process_s": cp,
                         "baseline_replay_s": br, "current_replay_s": cr, "all_passed": passed}
open(f"{reports}/replay-wall-time.md", "w").write("\n".join(out) + "\n")
json.dump({"baseline": base_label, "current": cur_label, "runs": int(runs), "build_profiles": profiles,
           "scenarios": summary}, open(f"{reports}/replay-wall-time.json", "w"), indent=2)
print("\n".join(out))
PY
