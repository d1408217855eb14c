# Files that declare more than they hold: a few bytes describing 10^12 or 10^8 rows end with an error
# naming the file and dataset, from train, predict and info, before anything is allocated (they used to
# end in "internal error: std::bad_alloc", or info allocated 4 GB and printed zeros); a compressed
# dataset larger than the memory is refused by size; a checkpoint with a NaN weight is refused at load.
# Errors of several ranks arrive whole, reported once.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

"$PYTHON" - <<'PY'
import h5py, numpy as np
for name, n in (("huge.h5", 10**12), ("big.h5", 10**8)):
    with h5py.File(name, "w") as f:  # chunked, nothing written: the file holds no data
        f.create_dataset("X", shape=(n, 4), dtype="f4", chunks=(1024, 4))
        f.create_dataset("y", shape=(n,), dtype="f4", chunks=(1024,))
with h5py.File("zipped.h5", "w") as f:  # compressed: the file cannot say how much it holds
    f.create_dataset("X", shape=(10**12, 4), dtype="f4", chunks=(1024, 4), compression="gzip")
    f.create_dataset("y", shape=(10**12,), dtype="f4", chunks=(1024,), compression="gzip")
with h5py.File("small_zipped.h5", "w") as f:
    f.create_dataset("X", data=np.ones((500, 4), "f4"), compression="gzip")
    f.create_dataset("y", data=np.ones((500,), "f4"), compression="gzip")
PY
[[ $(stat -c %s huge.h5) -lt 10000 ]] || die "huge.h5 is not tiny"
"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --n 512 --out good.h5 >/dev/null
"$HPCTRAIN" train --data.train good.h5 --epochs 1 --run-dir run >/dev/null

want="huge.h5: dataset /X: declares [1000000000000, 4] (16 TB) but the file stores 0 B of it"
expect_fail "$want" "$HPCTRAIN" train --data.train huge.h5 --run-dir r1
expect_fail "$want" "$HPCTRAIN" predict --checkpoint run/model.h5 --data huge.h5 --out p.h5
expect_fail "$want" "$HPCTRAIN" info huge.h5
expect_fail "big.h5: dataset /X: declares [100000000, 4] (1.6 GB) but the file stores 0 B of it" "$HPCTRAIN" info big.h5
expect_fail "zipped.h5: dataset /X: [1000000000000, 4] needs 16 TB of memory, more than the" "$HPCTRAIN" info zipped.h5
"$HPCTRAIN" info small_zipped.h5 | grep -q "500 rows" || die "a small compressed file was refused"
pass "a small compressed data set is read"
[[ ! -e r1 && ! -e p.h5 ]] || die "a refused file left outputs behind"
pass "nothing written for refused files"

# A checkpoint whose bytes changed after it was written fails its checksum; one written by another
# tool (no checksum) with a NaN weight is refused at load by predict and train --init, naming the tensor.
cp run/model.h5 flipped.h5
cp run/model.h5 nan.h5
"$PYTHON" - flipped.h5 nan.h5 <<'PY'
import h5py, numpy as np, sys
for name, keep_checksum in ((sys.argv[1], True), (sys.argv[2], False)):
    with h5py.File(name, "r+") as f:
        w = f["params/layers.0.weight"]
        v = w[:]; v.flat[3] = np.nan; w[...] = v
        if not keep_checksum and "checksum" in w.attrs:
            del w.attrs["checksum"]
PY
expect_fail "flipped.h5: /params/layers.0.weight is corrupt (its checksum does not match)" "$HPCTRAIN" predict --checkpoint flipped.h5 --data good.h5 --out pn.h5
expect_fail "nan.h5: parameter layers.0.weight element 3 is nan" "$HPCTRAIN" predict --checkpoint nan.h5 --data good.h5 --out pn.h5
expect_fail "nan.h5: parameter layers.0.weight element 3 is nan" "$HPCTRAIN" train --data.train good.h5 --init nan.h5 --run-dir rn
[[ ! -e pn.h5 ]] || die "predict wrote predictions from a NaN checkpoint"

# Under mpirun every rank meets the same bad file: one whole line, from rank 0.
mpirun -np 4 --oversubscribe "$HPCTRAIN" train --data.train huge.h5 --run-dir r4 >mpi.out 2>mpi.err || true
lines=$(grep -c "hpctrain train: rank" mpi.err || true)
[[ $lines -eq 1 ]] || die "expected one error line, got $lines: $(cat mpi.err)"
grep -qF "hpctrain train: rank 0: error: $want" mpi.err || die "the error line is not whole: $(cat mpi.err)"
pass "4 ranks, one bad file: one whole error line, rank 0's"
finish
