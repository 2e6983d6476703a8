#!/bin/bash
# Same seeds, two trees: does a refactor change any process number? Trains one small run per task kind with the code
# of OLD (a checkout, e.g. `git worktree add --detach ../old COMMIT`) and of this tree, and compares their
# metrics.json without the timings. Usage: benchmarks/same_numbers.sh OLD_TREE [OUT]
set -u
OLD=$(cd "$1" && pwd); NEW=$(cd "$(dirname "$0")/.." && pwd); OUT=${2:-/tmp/same-numbers}
export HF_HUB_OFFLINE=1 HEEDFUL_CACHE=$OUT/cache
PY=$NEW/.venv/bin/python
NYLON=$($PY -c "import process_improve, pathlib; print(pathlib.Path(process_improve.__file__).parent / 'datasets/batch/nylon.csv')")
TEP="--task tep_faults --faults 0,1,2 --window 10 --stride 4 --test-stride 4 --hidden-size 8 --epochs 3"
PEN="--batches 6 --min-hours 30 --max-hours 34 --epochs 3 --hidden-size 8"
i=0
while IFS= read -r args; do
  i=$((i+1))
  for side in old new; do
    W=$OLD; [ $side = new ] && W=$NEW
    rm -rf "$OUT/$side/$i"; mkdir -p "$OUT/$side/$i"
    (cd $W && PYTHONPATH=$W/src $PY -m heedful process train $args --out "$OUT/$side/$i" > "$OUT/$side/$i.log" 2>&1) \
      || echo "$side $i failed: $args (see $OUT/$side/$i.log)"
  done
  $PY - "$i" "$args" "$OUT" <<'PY'
import json, sys, glob
i, args, out = sys.argv[1:4]
def load(side):
    (f,) = glob.glob(f"{out}/{side}/{i}/*/metrics.json")
    return json.load(open(f))
def strip(d):
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if "second" not in k and "time" not in k and k not in ("run", "folder", "device")}
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d
a, b = strip(load("old")), strip(load("new"))
same = a == b
diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
print(f"{i}: {'identical' if same else 'DIFFERENT ' + ','.join(sorted(diff))}  ({args})")
PY
done <<LIST
--model bigru_attn $TEP
--model lstm_fcn $TEP
--model seq2seq_attn --task pen_forecast $PEN
--model bigru_attn --task pen_quality $PEN
--model bigru --task pen_softsensor $PEN
--model bigru_attn --task pen_faults --batches 6 --min-hours 30 --max-hours 30 --window 10 --stride 5 --epochs 3 --hidden-size 8
--model bigru_attn --task table --path $NYLON --batch-column batch_id --target-column Tag01 --window 8 --epochs 3 --hidden-size 8
--model bigru --task table --path $NYLON --batch-column batch_id --target-column Tag01 --epochs 3 --hidden-size 8
LIST
