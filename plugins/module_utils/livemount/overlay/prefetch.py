"""Prefetch: threads that make a cold overlay walk's lookups ahead of it, so its disk reads overlap.

Only the kernel's dentry and inode caches are warmed: the walk
(overlay_changes.py) still makes every call itself, so a prefetch can make
it faster, never different. docs/benchmarks.md (section 4a) measures it.
"""

import os
import queue
import stat
import threading

from ..overlay.stack import lstat, xattr_names, xattr_value


class Prefetch:
    """Worker threads that make ahead of a walk the lookups it is about to make, so cold reads overlap.

    With a cold cache each lookup of the walk waits for its own disk read
    (a directory block, an inode table block), one after the other. These
    threads look up the same things (each upper entry, its twins at the same
    path in the lower directories merging there, and the whole lower trees
    the walk lists: below opaque and redirected directories and below
    whiteouts), several at once. They only fill the kernel's dentry and
    inode caches: nothing they read is used, and a wrong guess costs a
    system call, never a wrong answer.
    """

    def __init__(self, upper, layers, threads=4):
        self.upper = upper
        self.layers = layers
        self.threads = threads
        self._todo = queue.LifoQueue()  # last in, first out: depth first, about the walk's order
        self._stop = False
        self._workers = []

    def start(self):
        """Return None after starting the workers at the upper root (a second call does nothing)."""
        if self._workers or self._stop:
            return
        self._todo.put((self._upper_dir, "", self.layers.lowers))
        for _thread in range(self.threads):
            worker = threading.Thread(target=self._work, name="livemount-prefetch", daemon=True)
            worker.start()
            self._workers.append(worker)

    def close(self):
        """Return None once the workers have stopped (lookups not yet started are dropped)."""
        self._stop = True
        for _worker in self._workers:
            self._todo.put(None)
        for worker in self._workers:
            worker.join()

    def drain(self):
        """Return None once every lookup queued so far, and every one they queued, is done."""
        self._todo.join()

    def _work(self):
        while True:
            task = self._todo.get()
            try:
                if task is None or self._stop:
                    return
                fn, rel, dirs = task
                try:
                    fn(rel, dirs)
                except OSError:
                    pass  # a hint only: the walk makes the same call itself and reports what fails
            finally:
                self._todo.task_done()

    def _upper_dir(self, rel, below):
        """Look up upper directory `rel`, its entries and their twins in the lower directories `below`."""
        with os.scandir(self.upper + rel) as it:
            entries = list(it)
        for e in entries:
            if self._stop:
                return
            name = "/" + e.name
            st = e.stat(follow_symlinks=False)
            twins = [d + name for d in below if _is_dir(lstat(d + name))]
            if not stat.S_ISDIR(st.st_mode):
                if twins:  # a whiteout or a file over a lower directory: the walk lists what it deletes
                    self._todo.put((self._lower_tree, None, twins))
                continue
            names = xattr_names(e.path)
            if self.layers.redirect_key in names:
                redirect = os.fsdecode(xattr_value(e.path, self.layers.redirect_key) or b"")
                if redirect.startswith("/"):
                    targets = [d + "/" + redirect.strip("/") for d in self.layers.lowers]
                else:
                    targets = [d + "/" + redirect for d in below]
                targets = [d for d in targets if _is_dir(lstat(d))]
                self._todo.put((self._lower_tree, None, targets + twins))
                twins = targets + twins
            elif self.layers.opaque_key in names and xattr_value(e.path, self.layers.opaque_key) == b"y":
                self._todo.put((self._lower_tree, None, twins))
                twins = []
            self._todo.put((self._upper_dir, rel + name, twins))

    def _lower_tree(self, _root, dirs):
        """Look up every entry below the lower directories `dirs` (what a listing of them stats)."""
        for d in dirs:
            with os.scandir(d) as it:
                for e in it:
                    if self._stop:
                        return
                    if e.is_symlink():
                        continue  # known from d_type alone: the walk never reads its inode
                    e.stat(follow_symlinks=False)  # files: whiteout or not; directories: their xattrs
                    if e.is_dir(follow_symlinks=False):
                        self._todo.put((self._lower_tree, None, [e.path]))


def _is_dir(st):
    """Return True if lstat result `st` (or None) is a directory."""
    return st is not None and stat.S_ISDIR(st.st_mode)
