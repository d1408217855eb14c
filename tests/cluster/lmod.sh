# `cmake --install` into a fresh prefix, then Lmod as a user has it: `module use PREFIX/modules`,
# `module load hpctrain` puts the installed hpctrain on PATH and `hpctrain --version` prints the
# version and the git commit it was built from; a version that does not exist fails to load, and
# unloading takes hpctrain off PATH again.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
: "${HPCTRAIN_BUILD:?run through ctest}" "${CMAKE:?run through ctest}"
lmod_init=/usr/share/lmod/lmod/init/bash
[[ -r $lmod_init ]] || { echo "SKIP: Lmod is not installed ($lmod_init; scripts/install-deps installs lmod)"; exit 77; }

prefix=$SCRATCH/prefix
"$CMAKE" --install "$HPCTRAIN_BUILD" --prefix "$prefix" >install.log || die "cmake --install failed: $(cat install.log)"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$HPCTRAIN_BUILD/CMakeCache.txt")
[[ -n $version ]] || die "no CMAKE_PROJECT_VERSION in the build's cache"
modulefile=$prefix/modules/hpctrain/$version.lua
for f in bin/hpctrain bin/hpctrain_torch.py share/hpctrain/configs/default.ini share/hpctrain/configs/default-data.ini \
         share/doc/hpctrain/cluster.md; do
  [[ -s $prefix/$f ]] || die "the install lacks $f"
done
[[ -x $prefix/bin/hpctrain_torch.py ]] || die "hpctrain_torch.py is not executable"
templates=$(find "$prefix/share/hpctrain/slurm" -name '*.sbatch' -perm -u+x | wc -l)
[[ $templates -eq $(ls "$HPCTRAIN_SOURCE"/slurm/*.sbatch | wc -l) ]] || die "installed $templates executable templates"
[[ -s $modulefile ]] || die "no modulefile $modulefile: $(find "$prefix/modules")"
! grep -q '@[A-Z_]*@' "$modulefile" || die "placeholders left in the modulefile: $(grep '@[A-Z_]*@' "$modulefile")"
grep -qxF "local root = \"$prefix\"" "$modulefile" || die "the modulefile does not name the prefix: $(grep 'local root' "$modulefile")"
pass "installed: bin/hpctrain, bin/hpctrain_torch.py, $templates SLURM templates, configs, modules/hpctrain/$version.lua"

# The commit the binary was built from: HEAD of the source tree when it is a git checkout.
commit=unknown
if git -C "$HPCTRAIN_SOURCE" rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git -C "$HPCTRAIN_SOURCE" rev-parse --short=12 HEAD)
fi

# A clean environment, as in a batch job: no login shell, only Lmod's init script.
env -i HOME="$HOME" PATH=/usr/bin:/bin prefix="$prefix" version="$version" commit="$commit" bash -s >lmod.log 2>&1 <<'SH' \
  || die "the module session failed: $(cat lmod.log)"
set -u
source /usr/share/lmod/lmod/init/bash
fail() { echo "FAIL: $*"; exit 1; }
module use "$prefix/modules"
module load hpctrain || fail "module load hpctrain returned $?"
[[ $(command -v hpctrain) == "$prefix/bin/hpctrain" ]] || fail "hpctrain on PATH is '$(command -v hpctrain)'"
command -v hpctrain_torch.py >/dev/null || fail "hpctrain_torch.py is not on PATH"
[[ $HPCTRAIN_ROOT == "$prefix" && -d $HPCTRAIN_SLURM_TEMPLATES && -f $HPCTRAIN_SLURM_TEMPLATES/cpu-1node.sbatch ]] \
  || fail "HPCTRAIN_ROOT='$HPCTRAIN_ROOT' HPCTRAIN_SLURM_TEMPLATES='$HPCTRAIN_SLURM_TEMPLATES'"
hpctrain --version >version.txt || fail "hpctrain --version returned $?"
head -1 version.txt | grep -qE "^hpctrain $version \(git $commit(-dirty)?\)$" \
  || fail "first line '$(head -1 version.txt)', expected hpctrain $version (git $commit), rebuilt from this tree"
for lib in "backends: cpu" "MPI: Open MPI v" "HDF5: 1\." "Boost: 1\." "OpenBLAS: OpenBLAS [0-9]"; do
  grep -qE "^$lib" version.txt || fail "--version lacks '$lib': $(cat version.txt)"
done
echo "loaded: $(module -t list 2>&1 | tr '\n' ' ')"
rc=0
module load hpctrain/0.0.0-missing || rc=$?
[[ $rc -ne 0 ]] || fail "loading a missing version returned 0"
echo "missing version: rc $rc"
module unload hpctrain
! command -v hpctrain >/dev/null || fail "hpctrain still on PATH after unload: $(command -v hpctrain)"
echo "unloaded"
SH
cat version.txt
grep -q "^loaded: hpctrain/$version" lmod.log || die "module list: $(cat lmod.log)"
pass "module load hpctrain: the installed binary on PATH, HPCTRAIN_ROOT and HPCTRAIN_SLURM_TEMPLATES set"
pass "hpctrain --version: $(head -1 version.txt), with MPI, HDF5, Boost and OpenBLAS versions"
grep -q "^missing version: rc [1-9]" lmod.log || die "$(cat lmod.log)"
pass "module load hpctrain/0.0.0-missing fails ($(grep -o 'rc [0-9]*' lmod.log))"
grep -q "^unloaded" lmod.log || die "$(cat lmod.log)"
pass "module unload hpctrain takes it off PATH"
finish
