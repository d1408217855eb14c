# configs/workloads/*.ini run as shipped (README: Workloads) on small generated data, one epoch each:
# nn_uq (bootstrap classifier ensemble in pairs, then predict with the pairs' intervals and their
# p_optimal coverage), pmssm (transformer and tabular transformer on two groups, MLP after), multinode_ddp
# (2 ranks, drop-last), rcl and rcl-unet (per-residue cnn1d and unet1d on the generated stand-in).
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}
cfg=$HPCTRAIN_SOURCE/configs/workloads
mkdir -p data
"$HPCTRAIN" gen-data --kind two-gaussians --n 800 --seed 1 --out data/two_gaussians.h5 >/dev/null
"$HPCTRAIN" gen-data --kind two-gaussians --n 400 --seed 2 --out data/two_gaussians_cal.h5 >/dev/null
"$HPCTRAIN" gen-data --kind two-gaussians --n 400 --seed 3 --out data/two_gaussians_test.h5 >/dev/null
"$HPCTRAIN" gen-data --kind physics19 --n 1024 --seed 1 --out data/physics19.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-sum --n 512 --seed 1 --out data/seq_sum.h5 >/dev/null

"$HPCTRAIN" train --config "$cfg/nn_uq.ini" --epochs 1 --ensemble.members 4 --threads 1 --quiet >nn.log \
  || die "nn_uq.ini: $(tail -2 nn.log)"
"$HPCTRAIN" predict --checkpoint runs/nn_uq --data data/two_gaussians_test.h5 --out runs/nn_uq/pred.h5 --threads 1 \
  --uq.levels 0.95 --uq.calibrate bagged >nnp.log || die "nn_uq predict: $(cat nnp.log)"
grep -q "p_optimal_coverage_0.95=" nnp.log && grep -q "^logit centre sd (bagged, 4 members" nnp.log \
  || die "nn_uq predict: $(cat nnp.log)"
grep -q "^bootstrap = true" runs/nn_uq/member-003/config.ini || die "nn_uq members are not bootstrapped"
pass "nn_uq.ini: 4 bootstrap members in pairs, predict with $(grep -o 'p_optimal_coverage_0.95=[^ ]*' nnp.log)," \
  "$(grep 'logit centre sd' nnp.log)"

"$mpirun" -np 2 "$HPCTRAIN" train --config "$cfg/pmssm.ini" --epochs 1 --threads 1 >pm.log 2>&1 || die "pmssm.ini: $(tail -3 pm.log)"
for m in transformer tabular mlp; do [[ -s runs/pmssm/$m/model.h5 ]] || die "pmssm: no $m model: $(tail -3 pm.log)"; done
grep -q "type = transformer" runs/pmssm/transformer/config.ini || die "pmssm transformer config"
pass "pmssm.ini: transformer, tabular transformer and MLP trained on 2 groups"

"$mpirun" -np 2 "$HPCTRAIN" train --config "$cfg/multinode_ddp.ini" --epochs 1 --threads 1 >dd.log 2>&1 \
  || die "multinode_ddp.ini: $(tail -3 dd.log)"
[[ -s runs/multinode_ddp/model.h5 ]] || die "multinode_ddp: no model: $(tail -3 dd.log)"
pass "multinode_ddp.ini: 2 ranks, drop-last"

"$HPCTRAIN" gen-data --config "$cfg/rcl-data.ini" --n 256 >/dev/null
while read -r c type; do
  "$HPCTRAIN" train --config "$cfg/$c.ini" --epochs 1 --threads 1 >"$c.log" 2>&1 || die "$c.ini: $(tail -3 "$c.log")"
  [[ -s runs/$c/model.h5 ]] || die "$c: no model: $(tail -3 "$c.log")"
  grep -q "^type = $type" "runs/$c/config.ini" || die "$c: not a $type"
  pass "$c.ini: $type, 1 epoch, per-residue accuracy $(final_metric accuracy "$c.log")"
done <<LIST
rcl cnn1d
rcl-unet unet1d
LIST
finish
