#!/bin/sh
# `make demo`: the whole job on a small synthetic data set, in about two minutes on two cores.
#   1. install what the build needs (scripts/deps.sh build) and build mlic and gen_shapes;
#   2. generate the shapes data set (8 classes: 4 shapes x 4 colours, 1-3 objects an image);
#   3. train a resnet18 from scratch on its train split, validating on val;
#   4. evaluate the model on the test split (mlic eval);
#   5. label the test images with mlic predict, as a batch prediction job would;
#   6. write the HTML report of the model, its training and its test evaluation (mlic report).
# Everything goes to build/demo/. Settings can be overridden from the environment, e.g.
#   EPOCHS=10 THREADS=4 make demo
set -eu
cd "$(dirname "$0")/.."

OUT=${OUT:-build/demo}
DATA=$OUT/data
MODEL=$OUT/model.safetensors
# With the oneDNN training backend about 150 images a second train on two idle cores (64x64,
# forward and backward): 14 epochs of 800 images take about 80 s and reach a test mAP near 90.
# (OpenMP slows down many times over on cores that other jobs keep busy.)
TRAIN=${TRAIN:-800}
EPOCHS=${EPOCHS:-14}
BATCH=${BATCH:-32}
LR=${LR:-0.002}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 2)}
SEED=${SEED:-1}
SIZE=64

step() { printf '\n== %s\n' "$*"; }

step "dependencies and build"
scripts/deps.sh build
make --no-print-directory -j"$THREADS" build/mlic build/demo/gen_shapes

step "data: shapes data set in $DATA"
build/demo/gen_shapes --out "$DATA" --train "$TRAIN" --val 200 --test 100 --size $SIZE --seed "$SEED"
echo "classes: $(tr '\n' ' ' < "$DATA/classes.txt")"
head -n 3 "$DATA/train.txt"

step "train: resnet18, $EPOCHS epochs, AdamW, cosine schedule, $THREADS threads"
start=$(date +%s)
build/mlic train --arch resnet18 --data "$DATA/train.txt" --val "$DATA/val.txt" \
    --classes "$DATA/classes.txt" --output "$MODEL" --epochs "$EPOCHS" --batch-size "$BATCH" \
    --lr "$LR" --optimizer adamw --schedule cosine --crop $SIZE --resize $SIZE --seed "$SEED" \
    --threads "$THREADS" --log "$OUT/train.log"
echo "trained in $(( $(date +%s) - start )) s; log: $OUT/train.log"

step "eval: $MODEL on the test split"
build/mlic eval --model "$MODEL" --data "$DATA/test.txt" --threads "$THREADS"
build/mlic eval --model "$MODEL" --data "$DATA/test.txt" --threads "$THREADS" --json \
    > "$OUT/test_metrics.json"

step "predict: label the test images (EasyVision's output format)"
cut -f1 "$DATA/test.txt" > "$OUT/test_images.txt"
build/mlic predict --model "$MODEL" --input "$OUT/test_images.txt" --root "$DATA" \
    --output "$OUT/test_predictions.txt" --threads "$THREADS" --no-progress
echo "$(wc -l < "$OUT/test_predictions.txt") lines in $OUT/test_predictions.txt; the first ones:"
head -n 2 "$OUT/test_predictions.txt"
echo "predicted classes against the truth:"
head -n 8 "$OUT/test_predictions.txt" | while IFS= read -r line; do
    path=${line%%, *}
    predicted=$(printf '%s' "$line" | sed 's/.*"class_names": \[\([^]]*\)\].*/\1/; s/"//g; s/, /,/g')
    truth=$(grep -F "$path	" "$DATA/test.txt" | cut -f2)
    printf '  %-22s predicted %-44s truth %s\n' "$path" "${predicted:--}" "$truth"
done

step "report: the model, its training log and its test evaluation on one page"
build/mlic report --model "$MODEL" --log "$OUT/train.log" --data "$DATA/test.txt" \
    --threads "$THREADS" --output "$OUT/report.html" > /dev/null

step "done"
printf 'model %s; test metrics %s:\n' "$MODEL" "$OUT/test_metrics.json"
cat "$OUT/test_metrics.json"
echo "report (open it in a browser): $OUT/report.html"
