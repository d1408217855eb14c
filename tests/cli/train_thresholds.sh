# Training reaches the documented threshold on each generated data set (README: "Thresholds").
source "$(dirname "$0")/../lib.sh"

"$HPCTRAIN" gen-data --kind heteroscedastic --n 8192 --out hetero.h5 >/dev/null
"$HPCTRAIN" train --data.train hetero.h5 --epochs 30 --run-dir run-hetero --quiet >hetero.log
# Irreducible noise E[sigma^2] = 0.1033; Var(y) = 0.667, so the best possible R2 is about 0.845.
check "mse < 0.125 and r2 > 0.81" mse="$(final_metric mse hetero.log)" \
  r2="$(final_metric r2 hetero.log)"

"$HPCTRAIN" gen-data --kind heteroscedastic --n 8192 --out hetero.h5 >/dev/null
"$HPCTRAIN" train --data.train hetero.h5 --loss gaussian-nll --epochs 30 --run-dir run-nll --quiet >nll.log
# The predicted std should track sigma(x), whose mean over the data is 0.3.
check "mse < 0.125 and 0.24 < mean_std < 0.36" mse="$(final_metric mse nll.log)" \
  mean_std="$(final_metric mean_std nll.log)"

"$HPCTRAIN" gen-data --kind two-gaussians --n 8192 --separation 2 --out gauss.h5 >/dev/null
"$HPCTRAIN" train --data.train gauss.h5 --epochs 10 --run-dir run-gauss --quiet >gauss.log
# Bayes accuracy Phi(1) = 0.8413 for separation 2.
check "accuracy > 0.82 and auc > 0.89" accuracy="$(final_metric accuracy gauss.log)" auc="$(final_metric auc gauss.log)"

"$HPCTRAIN" gen-data --kind physics19 --n 16384 --out phys.h5 >/dev/null
"$HPCTRAIN" train --data.train phys.h5 --epochs 60 --batch-size 64 --model.widths 128,128,128 --optim.lr 2e-3 \
  --sched.name cosine --run-dir run-phys --quiet >phys.log
# Targets are smooth with noise std 0.01, so nearly all variance is learnable.
check "r2 > 0.99" r2="$(final_metric r2 phys.log)"
finish
