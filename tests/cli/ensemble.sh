# train --ensemble.members under `mpirun -np 4`: 8 members over 2 groups of 2 ranks reach the weights
# of each member trained alone with its seed (same global batch); the plan is printed; resume skips
# complete members; bad input fails fast on rank 0 with every rank exiting non-zero.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}
np4=("$mpirun" -np 4 --oversubscribe)

# 640 rows, 512 for training: divisible by the global batch of 64, so no rank pads.
"$HPCTRAIN" gen-data --kind physics19 --n 640 --out d.h5 >/dev/null
common=(--data.train d.h5 --epochs 2 --threads 1 --model.widths 16,16 --data.workers 0)

timeout 120 "${np4[@]}" "$HPCTRAIN" train "${common[@]}" --seed 7 --ensemble.members 8 --groups 2 --batch-size 32 \
  --run-dir ens >ens.log 2>&1 || die "ensemble run failed: $(tail -5 ens.log)"
grep -qx "group plan: 4 ranks, 2 groups of 2 ranks, 8 members (seed 7 + 1000003 m)" ens.log || die "no plan: $(head ens.log)"
grep -qx "group 1: ranks 2-3: members 1, 3, 5, 7" ens.log || die "plan: $(head -3 ens.log)"
grep -q "^ensemble: 8 members (8 trained, 0 resumed) in 2 group(s) of 2 rank(s)" ens.log || die "no summary line"
[[ $(wc -l <ens/ensemble.csv) -eq 9 ]] || die "ensemble.csv: $(cat ens/ensemble.csv)"
head -1 ens/ensemble.csv | grep -q "^member,group,seed,status,epoch,.*val_loss" || die "ensemble.csv header: $(head -1 ens/ensemble.csv)"
grep -q "^3,1,3000016,trained," ens/ensemble.csv || die "ensemble.csv row 3: $(cat ens/ensemble.csv)"
grep -q "^members = 8" ens/ensemble.ini && grep -q "^member-007 = group 1, seed 7000028" ens/ensemble.ini \
  || die "ensemble.ini: $(cat ens/ensemble.ini)"
grep -q "^seed = 3000016" ens/member-003/config.ini || die "member config: $(cat ens/member-003/config.ini)"
pass "8 members on 2 groups: plan, summary, ensemble.csv, ensemble.ini, member config"

for m in 0 1 2 3 4 5 6 7; do
  "$HPCTRAIN" train "${common[@]}" --seed $((7 + 1000003 * m)) --batch-size 64 --run-dir alone$m >alone$m.log
done
for m in 0 1 2 3 4 5 6 7; do
  msg=$(same_weights alone$m "ens/member-00$m") || die "member $m differs from the member trained alone: $msg"
done
! same_weights alone0 alone1 >/dev/null || die "members 0 and 1 are the same model"
pass "each of 8 members (2 ranks per group) has the weights of the member trained alone (1 rank, batch 64)"

# 5 members on 4 groups of 1 rank: group 0 trains two. Then resume after losing member 3 and
# corrupting member 4: 0-2 are skipped, untouched; 3 and 4 are trained again.
small=(--data.train d.h5 --epochs 1 --threads 1 --model.widths 8 --batch-size 64 --seed 1)
timeout 120 "${np4[@]}" "$HPCTRAIN" train "${small[@]}" --ensemble.members 5 --groups 4 --run-dir five >five.log 2>&1 \
  || die "5 members failed: $(tail -5 five.log)"
cat >want.txt <<'TXT'
group plan: 4 ranks, 4 groups of 1 rank, 5 members (seed 1 + 1000003 m)
group 0: rank 0: members 0, 4
group 1: rank 1: member 1
group 2: rank 2: member 2
group 3: rank 3: member 3
TXT
grep -A4 "^group plan" five.log | diff - want.txt >/dev/null || die "plan for 5 members on 4 groups: $(head -5 five.log)"
pass "plan of 5 members on 4 groups printed"
sums=$(md5sum five/member-00{0,1,2}/model.h5 five/member-00{0,1,2}/metrics.csv)
stamp=$(stat -c %Y five/member-000/model.h5)
rm five/member-003/model.h5
head -c 100 five/member-004/model.h5 >cut && mv cut five/member-004/model.h5
sleep 1
timeout 120 "${np4[@]}" "$HPCTRAIN" train "${small[@]}" --ensemble.members 5 --groups 4 --ensemble.resume \
  --run-dir five >resume.log 2>&1 || die "resume failed: $(tail -5 resume.log)"
for m in 0 1 2; do grep -q "^member $m: complete in five/member-00$m, skipped" resume.log || die "member $m not skipped"; done
for m in 3 4; do grep -q "^member $m (group $((m % 4)), seed .*): training into five/member-00$m" resume.log || die "member $m not retrained"; done
[[ "$(md5sum five/member-00{0,1,2}/model.h5 five/member-00{0,1,2}/metrics.csv)" == "$sums" ]] || die "skipped members were rewritten"
[[ $(stat -c %Y five/member-000/model.h5) == "$stamp" ]] || die "member 0 touched"
grep -q "^ensemble: 5 members (2 trained, 3 resumed)" resume.log || die "resume summary: $(tail -2 resume.log)"
grep -q "^1,1,1000004,resumed," five/ensemble.csv && grep -q "^4,0,4000013,trained," five/ensemble.csv \
  || die "resume ensemble.csv: $(cat five/ensemble.csv)"
"$PYTHON" -c "import h5py; h5py.File('five/member-004/model.h5')['params']" || die "member 4 not rewritten whole"
pass "--ensemble.resume skips members 0-2 (files untouched) and retrains the missing and the corrupt one"

# Several models at once: [models.NAME] sections, placed by weight (3 models on 4 ranks: 2 groups of
# 2); each trains as the same plain run would alone (here: model wide = --model.widths 32,32).
cat >models.ini <<'INI'
epochs = 2
[data]
train = d.h5
[models.wide]
type = mlp
widths = 32,32
weight = 3
[models.small]
type = mlp
widths = 8
[models.tab]
type = transformer-tabular
d-model = 8
heads = 2
layers = 1
weight = 2
optim.lr = 3e-3
INI
timeout 120 "${np4[@]}" "$HPCTRAIN" train --config models.ini --threads 1 --data.workers 0 --batch-size 32 \
  --run-dir models >models.log 2>&1 || die "models run failed: $(tail -5 models.log)"
cat >want.txt <<'TXT'
group plan: 4 ranks, 2 groups of 2 ranks, 3 models
group 0: ranks 0-1: model wide (load 3)
group 1: ranks 2-3: models small, tab (load 3)
TXT
grep -A2 "^group plan" models.log | diff - want.txt >/dev/null || die "models plan: $(grep -A2 '^group plan' models.log)"
grep -q "^models: 3 models (3 trained, 0 resumed) in 2 group(s) of 2 rank(s)" models.log || die "no models summary"
grep -q "^tab,1,transformer-tabular,trained,2,16,0.003," models/models.csv || die "models.csv: $(cat models/models.csv)"
grep -qx "type = transformer-tabular" models/tab/config.ini && grep -qx "d-model = 8" models/tab/config.ini \
  && grep -qx "lr = 3e-3" models/tab/config.ini || die "tab config: $(cat models/tab/config.ini)"
"$HPCTRAIN" train --data.train d.h5 --epochs 2 --threads 1 --data.workers 0 --model.widths 32,32 --batch-size 64 \
  --run-dir wide_alone >wide_alone.log
msg=$(same_weights wide_alone models/wide) || die "model wide differs from its run alone: $msg"
pass "3 [models.NAME] (2 MLPs, a tabular transformer) on 4 ranks: plan by weight, models.csv, per-model options, weights as alone"

# A member that fails in training ends the job, naming the member (and the rank).
rc=0
timeout 60 "${np4[@]}" "$HPCTRAIN" train "${small[@]}" --ensemble.members 4 --groups 2 --init missing.h5 \
  --run-dir failing >fail.log 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || die "a failing member did not end the job (rc $rc): $(cat fail.log)"
grep -q "rank [0-3]: error: member [01]: .*missing.h5" fail.log || die "failure not named: $(cat fail.log)"
pass "a failing member ends the job: $(grep -o 'member [01]: .*missing.h5' fail.log | head -1)"

# Bad input: reported once (rank 0), before any training, every rank exits non-zero, quickly.
touch afile
bad_case() {  # MESSAGE ARGS...
  local want=$1; shift
  local rc=0 start=$SECONDS
  timeout 60 "${np4[@]}" "$HPCTRAIN" train "${small[@]}" "$@" >bad.log 2>&1 || rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] || die "$* did not fail cleanly (rc $rc): $(cat bad.log)"
  grep -qF -- "$want" bad.log || die "$*: no '$want' in: $(cat bad.log)"
  [[ $(grep -c "error:" bad.log) -eq 1 ]] || die "$*: not reported once: $(cat bad.log)"
  ! grep -q "training into" bad.log || die "$*: training started"
  (( SECONDS - start < 30 )) || die "$*: took $((SECONDS - start)) s"
  pass "fails fast ($((SECONDS - start)) s) with '$want': $*"
}
bad_case "--ensemble.members 0: an ensemble needs at least one member" --ensemble.members 0 --run-dir bad
bad_case "--groups 8: more groups than the 4 ranks" --ensemble.members 8 --groups 8 --run-dir bad
bad_case "--groups 3 does not divide the 4 ranks; use 1, 2 or 4" --ensemble.members 8 --groups 3 --run-dir bad
printf '[models.x]\ntype = foo\n' >badtype.ini
printf '[models.x]\ntype = mlp\nbogus = 1\n' >badkey.ini
bad_case "--models.x.type 'foo' is not a known model type" --config badtype.ini --run-dir bad
bad_case "[models.x] bogus = 1: 'bogus' is not an option a model section may set" --config badkey.ini --run-dir bad
bad_case "--uq.levels: 1.2 is outside (0, 1)" --ensemble.members 2 --uq.levels 0.5,1.2 --run-dir bad
bad_case "--uq.levels: '0.5,abc' is not a comma-separated list of numbers" --ensemble.members 2 --uq.levels 0.5,abc --run-dir bad
bad_case "option --run-dir: cannot create afile/sub" --ensemble.members 2 --run-dir afile/sub
[[ ! -e bad ]] || die "a bad run created its directory"
finish
