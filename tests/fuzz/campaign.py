#!/usr/bin/env python3
"""One fuzz target's campaign, as ctest runs it (tests/CMakeLists.txt, "Fuzzing").

usage: campaign.py FUZZER TARGET SECONDS WORK SOURCE SEEDS fork|plain

fork: libFuzzer runs in fork mode (-fork=1 -ignore_crashes/-ignore_ooms/-ignore_timeouts), so a crash
ends only the child job and the campaign goes on for its whole SECONDS: Debian's libhdf5 1.10 crashes
on some corrupt files within about a second of fuzzing, which used to end the run there (the HDF5
targets). plain: one process, ended by the first crash; ten times the executions of fork mode for a
fast target (config, CSV), whose every crash is ours anyway. Every artifact
(crash, leak, OOM, timeout input) lands in WORK/crashes/TARGET/ and is then replayed alone to get its
sanitizer report, which is classified by its first frame in either libhdf5 or our code (SOURCE: src/,
kernels/, tests/), below the sanitizer's, libFuzzer's, the allocator's, libc's and the C++ library's:
  hdf5        a known defect of HDF5 itself: counted and listed, not a failure;
  ours        a bug of hpctrain: the test fails, printing the report and the input to keep in
              tests/fuzz/regressions/TARGET/;
  unclassified  a report with neither: fails too (it needs a look);
  not reproduced  the input ran clean alone (a timeout under load): listed.
Exit status 0, or 1 when any report is ours or unclassified.
"""
import os
import re
import shutil
import subprocess
import sys

# Flags of every run, campaign and replay: one input may take 10 s and 1 GiB per allocation.
LIMITS = ["-timeout=10", "-rss_limit_mb=2048", "-malloc_limit_mb=1024"]
FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+\s+(?:in (.*) )?(\S+)$")
# Frames that never decide: the sanitizers' and libFuzzer's own, the allocator, libc, the C++ library
# (inlined std:: code included): the caller below them does.
RUNTIME_FUNCS = re.compile(r"^(__asan|__lsan|__ubsan|__sanitizer|__interceptor_|__cxa_|_Unwind|fuzzer::|"
                           r"(malloc|calloc|realloc|free|posix_memalign|aligned_alloc|operator new|operator delete)\b)")
RUNTIME_PLACES = re.compile(r"(compiler-rt/|libclang_rt|/libc\.so|/libc-|/libstdc\+\+|/libgcc_s|/usr/include/c\+\+/)")


def stacks(report):
    """The report's stacks, each a list of (function, place), in order."""
    out = []
    for line in report.splitlines():
        m = FRAME.match(re.sub(r" \(BuildId: [0-9a-f]+\)$", "", line))
        if not m:
            continue
        if m.group(1) == "0" or not out:
            out.append([])
        out[-1].append((m.group(2) or "", m.group(3)))
    return out


def owner(frames, source):
    """'hdf5', 'ours' or None: the first frame that belongs to either, after the runtime's."""
    for func, place in frames:
        if RUNTIME_FUNCS.match(func) or RUNTIME_PLACES.search(place):
            continue
        if "libhdf5" in place or re.match(r"H5[A-Za-z0-9_]*$", func):
            return "hdf5", f"{func} {place}"
        if place.startswith(source + "/"):
            return "ours", f"{func} {place}"
    return None, None


def classify(report, source):
    """(kind, the deciding frame). A leak report lists one stack per leak: any of ours is ours."""
    all_stacks = stacks(report)
    if not all_stacks:
        return "not reproduced", ""
    considered = all_stacks if "LeakSanitizer" in report else all_stacks[:1]
    found = [owner(s, source) for s in considered]
    for kind in ("ours", "hdf5"):
        for k, frame in found:
            if k == kind:
                return kind, frame
    return "unclassified", ""


def main():
    fuzzer, target, seconds, work, source, seeds, mode = sys.argv[1:8]
    source = os.path.realpath(source)
    crashes = os.path.join(work, "crashes", target)
    corpus = os.path.join(work, "corpus", target)
    shutil.rmtree(crashes, ignore_errors=True)  # this run's artifacts only
    os.makedirs(crashes)
    os.makedirs(corpus, exist_ok=True)
    log_path = os.path.join(work, f"{target}.log")
    fork = ["-fork=1", "-ignore_crashes=1", "-ignore_ooms=1", "-ignore_timeouts=1"] if mode == "fork" else []
    campaign = [fuzzer, *fork, f"-max_total_time={seconds}", *LIMITS, "-max_len=65536", "-print_final_stats=1",
                f"-artifact_prefix={crashes}/", corpus, seeds]
    print("campaign:", " ".join(campaign), flush=True)
    with open(log_path, "w") as log:
        rc = subprocess.run(campaign, stdout=log, stderr=subprocess.STDOUT).returncode
    text = open(log_path, errors="replace").read()
    # Fork mode: the parent's status lines "#RUNS: ... time: SECONDS", and "INFO: exiting: CODE" at the
    # end, CODE that of the last job that failed (77 a crash, 70 a timeout: ignored, triaged below).
    # Plain: the final statistics, printed also after a crash. Without them the fuzzer itself failed.
    status = re.findall(r"^#(\d+): .* time: (\d+)s", text, re.M)
    if mode == "fork" and re.search(r"^INFO: exiting: \d+ time:", text, re.M) and status:
        runs, secs = status[-1]
    elif mode != "fork" and re.search(r"^stat::number_of_executed_units: (\d+)", text, re.M):
        runs = re.search(r"^stat::number_of_executed_units: (\d+)", text, re.M).group(1)
        secs = f"at most {seconds}"  # a crash ends it early
    else:
        print(text[-4000:])
        print(f"fuzz.{target}: FAILED: the campaign ended with status {rc} (log {log_path})")
        return 1
    # Each report's "ERROR:" line (fork mode: the parent repeats those of its failed jobs).
    errors = len(re.findall(r"^==\d+== ?ERROR: ", text, re.M))
    print(f"fuzz.{target} ({mode}): {runs} executions in {secs} s; {errors} report(s)")

    artifacts = sorted(os.listdir(crashes))
    counts, failed = {}, []
    for name in artifacts:
        path = os.path.join(crashes, name)
        try:
            replay = subprocess.run([fuzzer, *LIMITS, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    timeout=120, errors="replace")
            report = replay.stdout
        except subprocess.TimeoutExpired as e:
            report = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        kind, frame = classify(report, source)
        counts[kind] = counts.get(kind, 0) + 1
        print(f"  {name}: {kind}" + (f" ({frame})" if frame else ""))
        if kind in ("ours", "unclassified"):
            failed.append((path, report))
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
    print(f"fuzz.{target}: {len(artifacts)} artifact(s) triaged: {summary}")
    for path, report in failed:
        start = max(0, report.find("ERROR:"))
        print(f"\n---- report of {path} ----\n{report[start:start + 6000]}")
        print(f"fuzz.{target}: keep the input as a regression: cp {path} {source}/tests/fuzz/regressions/{target}/")
    if failed:
        print(f"fuzz.{target}: FAILED: {len(failed)} report(s) in our code or unclassified")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
