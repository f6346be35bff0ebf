#!/usr/bin/env python3
"""Benchmark: what an overlay changed, upper walk vs full merged-tree walk, side by side in one run.

    sudo python3 bench/overlay_changes.py                  # tmpfs, warm cache
    sudo python3 bench/overlay_changes.py --fs disk --cold # ext4/xfs under /var/tmp, warm and cold

Builds a lower layer of 50,000 files in 2,000 directories (plus a small
second lower layer on top), mounts an overlay (redirect_dir=on,metacopy=on),
makes 200 changes through it (writes, same-bytes rewrites, appends, chmod
and chown (metacopy), new files, deletions, rm -r + mkdir, directory
renames, new directories, symlinks), then times, interleaved:

* upper walk   overlay_changes.changes(): only the upper and the lower paths it names;
* oracle       tests/oracles/overlay_oracle.oracle(): the whole merged tree and the lower
               layers stacked by hand, every attribute and content compared;
* floor        one scandir+lstat pass over the merged tree and nothing else:
               no full walk can be cheaper, so its ratio is the conservative one.

Cold means `sync; echo 3 > /proc/sys/vm/drop_caches` before every timed
call, so it needs --fs disk: tmpfs cannot be evicted. The upper walk starts
its prefetch threads only when its lookups show a cold cache; the report
says how many timed walks did. CPU times are those of every thread.

The upper walk and the oracle must give identical results (checked every
run). Prints median and min-max per method and the ratios; writes
bench/out/overlay_changes.json (or --out). The engine measured is the one
bench/common.py imports: the working tree, or run_all.py --rev's export.
Everything happens in a private mount namespace: the host's mount table is
never touched.
"""

import argparse
import ctypes
import gc
import json
import os
import platform
import random
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time

import common

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "bench", "out", "overlay_changes.json")
TOP_DIRS, SUB_DIRS, FILES_PER_DIR = 40, 49, 25  # 40 + 40*49 = 2,000 directories, 50,000 files
BIG_FILES, BIG_SIZE = 40, 1 << 20
PATCH_FILES = 500  # second lower layer: 400 overrides, 100 new files
CHANGES = (  # (operation, count): 200 in all
    ("write", 40), ("rewrite_same", 10), ("append", 20), ("chmod", 25), ("chmod_big", 10), ("chown", 10),
    ("create", 30), ("delete", 25), ("rmr_mkdir", 10), ("rename_dir", 10), ("new_dir", 5), ("symlink", 5),
)


def main(argv=None):
    """Return the exit status after building, changing, timing and reporting."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fs", choices=("tmpfs", "disk"), default="tmpfs", help="where the layers live")
    p.add_argument("--runs", type=int, default=9, help="timed runs of each method per cache state")
    p.add_argument("--cold", action="store_true", help="also time with caches dropped before every run (disk)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=OUT, help="result file (default bench/out/overlay_changes.json)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench/overlay_changes.py: needs root (it mounts an overlay in a private mount namespace)")
    if args.cold and args.fs == "tmpfs":
        # drop_caches cannot evict tmpfs: its pages and dentries are the storage.
        sys.exit("bench/overlay_changes.py: --cold needs --fs disk (tmpfs has no cold cache)")
    enter_private_namespace()
    oc, oo = engine()
    base = make_base(args.fs)
    try:
        lowers, upper, merged = build(base, random.Random(args.seed))
        applied = make_changes(merged, random.Random(args.seed + 1))
        results = {"environment": environment(args, base), "tree": tree_facts(lowers, upper, applied),
                   "timings": {}}
        states = ["warm"] + (["cold"] if args.cold else [])
        for state in states:
            results["timings"][state] = measure(oc, oo, upper, lowers, merged, args.runs, state == "cold")
        items = oc.changes(upper, lowers)
        results["tree"]["reported"] = oc.counts(items)
        results["tree"]["reported_total"] = len(items)
        print_report(results)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
        print("written %s" % os.path.relpath(args.out, REPO))
        return 0 if all(t["identical"] for t in results["timings"].values()) else 1
    finally:
        cleanup(base, args.fs)


# ---- setting up ------------------------------------------------------------------

def enter_private_namespace():
    """Return None after moving into a new mount namespace whose mounts propagate nowhere."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        raise OSError(ctypes.get_errno(), "cannot unshare the mount namespace")
    # systemd makes / shared: without MS_REC|MS_PRIVATE mounts would reach the host.
    if libc.mount(None, b"/", None, 0x4000 | (1 << 18), None) != 0:
        raise OSError(ctypes.get_errno(), "cannot make / recursively private")


def engine():
    """Return the modules (overlay.changes of the source measured, see bench/common.py; the test oracle)."""
    if common.REPO not in sys.path:
        sys.path.insert(0, common.REPO)  # the oracle is test code: tests/oracles/, never shipped
    from tests.oracles import overlay_oracle

    return common.engine("overlay.changes"), overlay_oracle


def make_base(fs):
    """Return a fresh directory for the layers: a new tmpfs, or a directory on /var/tmp's disk filesystem."""
    if fs == "tmpfs":
        base = tempfile.mkdtemp(prefix="livemount-bench-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", base], check=True)
        return base
    return tempfile.mkdtemp(prefix="livemount-bench-", dir="/var/tmp")


def cleanup(base, fs):
    """Return None after unmounting everything under `base` and removing it."""
    merged = os.path.join(base, "merged")
    if os.path.ismount(merged):
        subprocess.run(["umount", merged], check=True)
    if fs == "tmpfs":
        subprocess.run(["umount", base], check=True)
        os.rmdir(base)
    else:
        shutil.rmtree(base)


def build(base, rnd):
    """Return (lowers, upper, merged) after writing the layers and mounting the overlay."""
    bottom, patch = os.path.join(base, "lower-base"), os.path.join(base, "lower-patch")
    files = []
    big = set(rnd.sample(range(TOP_DIRS * (SUB_DIRS + 1) * FILES_PER_DIR), BIG_FILES))
    for t in range(TOP_DIRS):
        for s in [None] + list(range(SUB_DIRS)):
            rel = "d%02d" % t if s is None else "d%02d/s%02d" % (t, s)
            os.makedirs(os.path.join(bottom, rel))
            for k in range(FILES_PER_DIR):
                path = "%s/f%02d" % (rel, k)
                size = BIG_SIZE if len(files) in big else rnd.randrange(0, 4096)
                with open(os.path.join(bottom, path), "wb") as f:
                    f.write(rnd.randbytes(size) if hasattr(rnd, "randbytes") else os.urandom(size))
                files.append(path)
    os.makedirs(patch)
    for i, path in enumerate(rnd.sample(files, PATCH_FILES)):
        target = path if i < PATCH_FILES * 4 // 5 else path + ".patch"
        os.makedirs(os.path.dirname(os.path.join(patch, target)), exist_ok=True)
        with open(os.path.join(patch, target), "wb") as f:
            f.write(b"patched %d\n" % i)
    upper, work, merged = (os.path.join(base, n) for n in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        os.makedirs(d)
    lowers = [patch, bottom]
    opts = "lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=on,metacopy=on" % (":".join(lowers), upper, work)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, merged], check=True)
    return lowers, upper, merged


def make_changes(m, rnd):
    """Return {operation: count} after making the 200 changes of CHANGES through merged tree `m`."""
    dirs = sorted("d%02d/s%02d" % (t, s) for t in range(TOP_DIRS) for s in range(SUB_DIRS))
    rnd.shuffle(dirs)
    n_dir_ops = dict(CHANGES)["rmr_mkdir"] + dict(CHANGES)["rename_dir"]
    dir_targets, file_dirs = dirs[:n_dir_ops], dirs[n_dir_ops:]
    files = ["%s/f%02d" % (d, k) for d in file_dirs for k in range(FILES_PER_DIR)]
    rnd.shuffle(files)
    small = [f for f in files if os.lstat(os.path.join(m, f)).st_size < BIG_SIZE]
    small_set = set(small)
    bigs = [f for f in files if f not in small_set]
    full = lambda p: os.path.join(m, p)  # noqa: E731
    done = {}
    for op, count in CHANGES:
        for i in range(count):
            if op == "write":
                _write(full(small.pop()), rnd.randbytes(rnd.randrange(1, 4096)))
            elif op == "rewrite_same":
                path = full(small.pop())
                with open(path, "rb") as f:
                    data = f.read()
                _write(path, data)  # a copy-up that changes nothing: must not be reported
            elif op == "append":
                with open(full(small.pop()), "ab") as f:
                    f.write(b"appended\n")
            elif op == "chmod":
                os.chmod(full(small.pop()), 0o600)
            elif op == "chmod_big":
                os.chmod(full(bigs.pop()), 0o640)
            elif op == "chown":
                os.chown(full(small.pop()), 1000, 1000)
            elif op == "create":
                _write(full("%s/new%02d" % (file_dirs[i], i)), b"new file\n")
            elif op == "delete":
                os.unlink(full(small.pop()))
            elif op == "rmr_mkdir":
                shutil.rmtree(full(dir_targets[i]))
                os.mkdir(full(dir_targets[i]))
            elif op == "rename_dir":
                src = dir_targets[dict(CHANGES)["rmr_mkdir"] + i]
                os.rename(full(src), full("d%02d/renamed%02d" % (rnd.randrange(TOP_DIRS), i)))
            elif op == "new_dir":
                os.mkdir(full("d%02d/newdir%02d" % (i, i)))
                for k in range(3):
                    _write(full("d%02d/newdir%02d/n%d" % (i, i, k)), b"x" * k)
            elif op == "symlink":
                os.symlink("f00", full("%s/link%02d" % (file_dirs[-1 - i], i)))
            done[op] = done.get(op, 0) + 1
    return done


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- measuring -------------------------------------------------------------------

def floor_walk(root):
    """Return the number of entries of the tree under `root`: scandir + lstat of each, nothing else."""
    n, todo = 0, [root]
    while todo:
        with os.scandir(todo.pop()) as it:
            for e in it:
                n += 1
                if stat.S_ISDIR(e.stat(follow_symlinks=False).st_mode):
                    todo.append(e.path)
    return n


def drop_caches():
    """Return None after writing back and dropping the page, dentry and inode caches."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def measure(oc, oo, upper, lowers, merged, runs, cold):
    """Return the timings of the three methods, interleaved run by run, and whether results agree."""
    methods = {
        "upper walk": lambda: oc.as_diff(oc.changes(upper, lowers)),
        "oracle": lambda: oo.by_path(oo.oracle(merged, lowers)),
        "floor": lambda: floor_walk(merged),
    }
    times = {name: [] for name in methods}
    cpu = {name: [] for name in methods}
    identical = True
    if not cold:
        for fn in methods.values():
            fn()  # warm-up: caches filled, modules loaded
    # Count the timed upper walks that took the cache for cold and started
    # their prefetch threads (a walk calls start() at most once).
    started = []
    prefetch = common.engine("overlay.prefetch").Prefetch
    real_start = prefetch.start

    def counting_start(prefetch):
        started.append(1)
        real_start(prefetch)

    prefetch.start = counting_start
    try:
        for _ in range(runs):
            answers = {}
            for name, fn in methods.items():
                if cold:
                    drop_caches()
                # As timeit does: no cyclic GC inside a timed call, so one method
                # does not pay for the garbage another left behind.
                gc.collect()
                gc.disable()
                try:
                    t0, c0 = time.perf_counter(), time.process_time()  # CPU of every thread
                    answers[name] = fn()
                    times[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
                finally:
                    gc.enable()
            identical = identical and answers["upper walk"] == answers["oracle"]
    finally:
        prefetch.start = real_start
    out = {"identical": identical, "runs": runs, "loadavg": os.getloadavg(), "methods": {},
           "prefetch_started": len(started)}
    ref = times["upper walk"], cpu["upper walk"]
    for name, ts in times.items():
        cs = cpu[name]
        out["methods"][name] = {
            "seconds": ts, "median": statistics.median(ts), "min": min(ts), "max": max(ts),
            "cpu_seconds": cs, "cpu_median": statistics.median(cs),
            # Wall medians are what a user waits; min/min and CPU medians
            # resist other load on the machine (noise only ever adds time).
            "ratio": statistics.median(ts) / statistics.median(ref[0]), "ratio_min": min(ts) / min(ref[0]),
            "ratio_cpu": statistics.median(cs) / statistics.median(ref[1]),
        }
    return out


def environment(args, base):
    """Return what the numbers depend on: kernel, Python, filesystem, CPU count."""
    fs, _, source = subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", base], capture_output=True,
                                   text=True).stdout.strip().partition(" ")
    return {"kernel": platform.release(), "python": platform.python_version(), "fs": args.fs, "fs_type": fs,
            "fs_source": source.strip(), "source_measured": common.SRC,
            "cpus": os.cpu_count(), "seed": args.seed, "cold": args.cold}


def tree_facts(lowers, upper, applied):
    """Return the sizes that matter: files and dirs below, entries in the upper, changes made."""
    def count(root):
        files = dirs = 0
        for _, ds, fs in os.walk(root):
            dirs += len(ds)
            files += len(fs)
        return {"files": files, "dirs": dirs}
    return {"lowers": [count(layer) for layer in lowers], "upper": count(upper), "changes": applied,
            "changes_total": sum(applied.values())}


def print_report(results):
    """Print the table: one block per cache state, a row per method."""
    tree, env = results["tree"], results["environment"]
    base = tree["lowers"][-1]
    print("overlay changes: %d files in %d dirs below (+%d files in a second lower layer), %d changes made,"
          " %d paths reported" % (base["files"], base["dirs"], tree["lowers"][0]["files"], tree["changes_total"],
                                   tree["reported_total"]))
    print("kernel %s, python %s, %s (%s), %d cpus" % (env["kernel"], env["python"], env["fs"], env["fs_type"],
                                                       env["cpus"]))
    for state, t in results["timings"].items():
        print("\n%s cache, %d runs each (interleaved), load average %.1f, identical results: %s,"
              " upper walks that started prefetch threads: %d" % (state, t["runs"], t["loadavg"][0],
                                                                 "yes" if t["identical"] else "NO",
                                                                 t["prefetch_started"]))
        print("  %-11s %10s %9s %9s %9s | %9s %9s %9s" % ("method", "median ms", "min ms", "max ms", "cpu ms",
                                                        "x median", "x min", "x cpu"))
        for name, m in t["methods"].items():
            print("  %-11s %10.1f %9.1f %9.1f %9.1f | %8.1fx %8.1fx %8.1fx"
                  % (name, m["median"] * 1e3, m["min"] * 1e3, m["max"] * 1e3, m["cpu_median"] * 1e3, m["ratio"],
                     m["ratio_min"], m["ratio_cpu"]))


if __name__ == "__main__":
    sys.exit(main())
