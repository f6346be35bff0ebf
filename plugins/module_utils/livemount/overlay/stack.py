"""How overlayfs resolves a name through a stack of layer directories, read from the real layers.

A "stack" is a tuple of (layer index, real directory): the directories that
merge at one overlay path, top first. Lower layers are numbered 0.. from the
top, data-only layers follow them, the upper layer is UPPER (-1).

Rules (Documentation/filesystems/overlayfs.rst, fs/overlayfs/namei.c, and
what Linux 6.18 was seen to do):
* a whiteout hides the name in every layer below: a character device 0/0,
  or a zero-size regular file with xattr `overlay.whiteout` (lookup honours
  it in any layer and any directory; readdir of an upper directory still
  lists it, but the name resolves to nothing);
* the first non-directory found ends the lookup; directories merge until a
  non-directory, a whiteout, or a directory with `overlay.opaque` = "y";
* `overlay.redirect` on a directory (or a metacopy file) continues the
  lookup below under another name: relative to the same parent, or, when it
  starts with "/", from the roots of the layers below;
* a regular file with `overlay.metacopy` holds metadata only: its data is
  the next regular file found below (under its redirect if it has one, and
  in the data-only layers for absolute redirects).
"""

import errno
import os
import stat

UPPER = -1
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)
_NO_XATTRS = (errno.ENOTSUP, errno.EOPNOTSUPP)
_TYPES = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
)
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")


def type_name(mode):
    """Return the file type word of an st_mode: file, dir, symlink, char, block, fifo or socket."""
    for test, name in _TYPES:
        if test(mode):
            return name
    return "unknown"


def lstat(path):
    """Return os.lstat(path), or None when nothing is there (or a component is not a directory)."""
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        raise


def xattr_names(path):
    """Return the set of xattr names of `path` (not following a symlink); empty where unsupported."""
    try:
        return set(os.listxattr(path, follow_symlinks=False))
    except OSError as exc:
        if exc.errno in _NO_XATTRS:
            return set()
        raise


def xattr_value(path, name):
    """Return the value of xattr `name` of `path`, or None if it is gone."""
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.ENODATA:  # removed since listxattr: just absent
            raise
        return None


class Obj:
    """One real file in one layer: path, lstat (lazy for upper directory entries), cached xattrs.

    `cont` is (stack, index, name): where a lookup would continue below this
    regular file, used to find a metacopy file's data.
    """

    __slots__ = ("path", "_st", "layer", "entry", "_xattrs", "cont")

    def __init__(self, path, st, layer, entry=None):
        self.path = path
        self._st = st
        self.layer = layer
        self.entry = entry
        self._xattrs = None
        self.cont = None

    @property
    def stat(self):
        """Return the lstat result (one syscall, once, for a scandir entry)."""
        if self._st is None:
            self._st = self.entry.stat(follow_symlinks=False)
        return self._st

    @property
    def is_dir(self):
        """Return True for a directory (from d_type when this came from scandir)."""
        if self._st is None and self.entry is not None:
            return self.entry.is_dir(follow_symlinks=False)
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def type(self):
        """Return the file type word (see type_name), from d_type when possible."""
        e = self.entry
        if self._st is None and e is not None:
            if e.is_dir(follow_symlinks=False):
                return "dir"
            if e.is_file(follow_symlinks=False):
                return "file"
            if e.is_symlink():
                return "symlink"
        return type_name(self.stat.st_mode)

    @property
    def is_reg(self):
        """Return True for a regular file (from d_type when this came from scandir)."""
        if self._st is None and self.entry is not None:
            return self.entry.is_file(follow_symlinks=False)
        return stat.S_ISREG(self.stat.st_mode)


class Layers:
    """The layers of one overlay and the overlay xattrs in the namespace it uses."""

    def __init__(self, lowers, data=(), xattr_prefix="trusted."):
        self.lowers = tuple(lowers)
        self.data = tuple(data)
        self.opaque_key = xattr_prefix + "overlay.opaque"
        self.redirect_key = xattr_prefix + "overlay.redirect"
        self.metacopy_key = xattr_prefix + "overlay.metacopy"
        self.whiteout_key = xattr_prefix + "overlay.whiteout"

    def root_stack(self):
        """Return the stack at the overlay root: every lower layer's root."""
        return tuple(enumerate(self.lowers))

    def find_root(self):
        """Return the Obj whose attributes the lower view's root shows (the top lower root), or None."""
        if not self.lowers:
            return None
        return Obj(self.lowers[0], os.lstat(self.lowers[0]), 0)

    # ---- xattrs ---------------------------------------------------------------------
    def _names(self, obj):
        """Return the xattr names of `obj` (one listxattr, once; values are read only when asked for)."""
        if obj._xattrs is None:
            obj._xattrs = xattr_names(obj.path)
        return obj._xattrs

    def _value(self, obj, name):
        """Return the value of xattr `name` of `obj`, None if it has none."""
        return xattr_value(obj.path, name) if name in self._names(obj) else None

    def user_xattrs(self, obj):
        """Return the xattrs of `obj` a user of the overlay sees: overlay's own namespaces removed."""
        return {k: xattr_value(obj.path, k) for k in self._names(obj) if not k.startswith(OVERLAY_XATTRS)}

    def is_whiteout(self, obj):
        """Return True if `obj` is a whiteout (char 0/0, or zero-size file with overlay.whiteout)."""
        e = obj.entry
        if obj._st is None and e is not None and (e.is_dir(follow_symlinks=False) or e.is_symlink()):
            return False  # from d_type alone: no stat needed
        if obj.is_dir:
            return False
        mode = obj.stat.st_mode
        if stat.S_ISCHR(mode):
            return obj.stat.st_rdev == 0
        return stat.S_ISREG(mode) and obj.stat.st_size == 0 and self.whiteout_key in self._names(obj)

    def is_opaque(self, obj):
        """Return True for a directory marked opaque ("y"; "x" only marks xattr whiteouts inside)."""
        return self._value(obj, self.opaque_key) == b"y"

    def is_metacopy(self, obj):
        """Return True for a regular file whose data lives in a layer below."""
        return obj.is_reg and self.metacopy_key in self._names(obj)

    def redirect_of(self, obj):
        """Return the redirect of `obj` as text, or None."""
        value = self._value(obj, self.redirect_key)
        if not value:
            return None
        return os.fsdecode(value)

    # ---- lookups --------------------------------------------------------------------
    def listing(self, stack):
        """Return {name: (obj, child stack)} of every name the merged directory of `stack` shows.

        Same answers as find() for each name, from one scandir per layer
        directory: no lookup of a name where a layer does not have it, and
        no stat of a directory or symlink (d_type says what they are).
        """
        scans = []
        for _layer, base in stack:
            try:
                with os.scandir(base) as it:
                    scans.append({e.name: e for e in it})
            except OSError as exc:
                if exc.errno not in _MISSING:
                    raise
                scans.append({})
        out = {}
        for name in set().union(*scans):
            obj, child = self._resolve(stack, scans, name)
            if obj is not None:
                out[name] = (obj, child)
        return out

    def _resolve(self, stack, scans, name):
        """Return find(stack, name) answered from the scandir results `scans` of the stack's directories."""
        top = None
        child = []
        for i, (layer, _base) in enumerate(stack):
            e = scans[i].get(name)
            if e is None:
                continue
            obj = Obj(e.path, None, layer, entry=e)
            if self.is_whiteout(obj):
                break
            if not obj.is_dir:
                if top is None:
                    top = obj
                    obj.cont = (stack, i + 1, name)
                break
            if top is None:
                top = obj
            child.append((layer, e.path))
            if self.is_opaque(obj):
                break
            redirect = self.redirect_of(obj)
            if redirect is not None:  # rare in lower layers: the general lookup takes over below
                name, rest, j = self._redirected(name, redirect, stack, i + 1, layer)
                child.extend(self.find(rest[j:], name)[1])
                break
        return top, tuple(child)

    def find(self, stack, name):
        """Return (obj, child stack): what a lookup of `name` in `stack` finds (None, () if nothing).

        The child stack lists the directories that merge under the found
        directory (empty for a non-directory). `name` may hold slashes (the
        continuation of an absolute redirect).
        """
        top = None
        child = []
        i = 0
        while i < len(stack):
            layer, base = stack[i]
            i += 1
            # The layers below go on with the name this layer's lookup leaves (a redirect on the way renames it).
            path, st, stop, name = self._lookup(base, name)
            if st is None:
                if stop:
                    break
                continue
            obj = Obj(path, st, layer)
            if self.is_whiteout(obj):
                break
            if not stat.S_ISDIR(st.st_mode):
                if top is None:
                    top = obj
                    obj.cont = (stack, i, name)
                break  # a non-directory ends the lookup; below a directory it ends the merge
            if top is None:
                top = obj
            child.append((layer, path))
            if self.is_opaque(obj):
                break
            redirect = self.redirect_of(obj)
            if redirect is not None:
                stop = stop and not redirect.startswith("/")  # an absolute redirect goes on below an opaque
                name, stack, i = self._redirected(name, redirect, stack, i, layer)
            if stop:
                break
        return top, tuple(child)

    def follow(self, stack, name, redirect, layer):
        """Return find()'s answer for an entry of `layer` at `name` that carries `redirect`."""
        name, stack, i = self._redirected(name, redirect, stack, 0, layer)
        return self.find(stack[i:], name)

    def data_path(self, obj):
        """Return the real path holding the data of regular file `obj` (itself unless metacopy).

        A metacopy file's data is the next regular file a lookup finds below
        it (under its redirect). When the lower layers end without one and
        the redirect is absolute, it is the first data-only layer holding a
        regular file at that path: a plain path lookup there (no symlink on
        the way), with no overlay xattr honoured, no metacopy followed
        (namei.c ovl_lookup_data_layers).
        """
        seen = 0
        while obj.cont is not None and self.is_metacopy(obj):
            stack, i, name = obj.cont
            redirect = self.redirect_of(obj)
            if redirect is not None and redirect.startswith("/"):
                below = tuple((j, self.lowers[j]) for j in range(obj.layer + 1, len(self.lowers)))
                nxt = self.find(below, redirect.strip("/"))[0]
                if nxt is None:
                    nxt = self._data_file(redirect.strip("/"))
            else:
                nxt = self.find(stack[i:], redirect or name)[0]
            seen += 1
            if nxt is None or not nxt.is_reg or seen > len(self.lowers) + len(self.data):
                raise OSError(errno.ENODATA, "metacopy file without data in the layers below", obj.path)
            obj = nxt
        return obj.path

    def _data_file(self, name):
        """Return the Obj of the first regular file at `name` in a data-only layer, or None.

        Every component must be a real directory of that layer (a symlink
        or anything else on the way, or at the end, skips the layer).
        """
        for k, base in enumerate(self.data):
            path = base
            for comp in name.split("/"):
                path = path + "/" + comp
                st = lstat(path)
                if st is None or not stat.S_ISDIR(st.st_mode):
                    break
            if st is not None and stat.S_ISREG(st.st_mode) and path == base + "/" + name:
                return Obj(path, st, len(self.lowers) + k)
        return None

    def _redirected(self, name, redirect, stack, i, layer):
        """Return (name, stack, index) a lookup of `name` continues with after `redirect` found in `layer`.

        A relative redirect replaces the last component of `name` (the
        continuation of an absolute redirect can have several).
        """
        if redirect.startswith("/"):
            below = tuple((j, self.lowers[j]) for j in range(layer + 1, len(self.lowers)))
            return redirect.strip("/"), below, 0
        return join_parent(name, redirect), stack, i

    def _lookup(self, base, name):
        """Return (path, lstat or None, stop, name below): `name` looked up under `base` in one layer.

        For a multi-component name every component but the last must be a
        directory of this layer: a whiteout or non-directory on the way
        stops the whole lookup, a missing one only skips this layer, an
        opaque one stops after this layer. A directory on the way that
        carries a redirect renames the rest of the lookup: this layer goes
        on below the directory it found, the layers below look up the
        returned name (the redirect with the remaining components after it),
        and an absolute redirect undoes an opaque one's stop (namei.c
        ovl_lookup_layer and ovl_check_redirect).
        """
        if "/" not in name:
            path = base + "/" + name
            return path, lstat(path), False, name
        parts = name.split("/")
        path = base
        stop = False
        for k, comp in enumerate(parts[:-1]):
            path = path + "/" + comp
            st = lstat(path)
            if st is None:
                return path, None, stop, name
            obj = Obj(path, st, None)
            if not stat.S_ISDIR(st.st_mode):
                return path, None, True, name
            if self.is_opaque(obj):
                stop = True
                continue
            redirect = self.redirect_of(obj)
            if redirect is not None:
                rest = "/".join(parts[k + 1:])
                if redirect.startswith("/"):
                    stop = False
                    name = redirect.strip("/") + "/" + rest
                else:
                    # The component's own place in `name`: the remaining
                    # components are the same, whatever came before them.
                    head = name[:len(name) - len(rest) - 1]
                    name = join_parent(head, redirect) + "/" + rest
        path = path + "/" + parts[-1]
        return path, lstat(path), stop, name


def join_parent(name, other):
    """Return `name` with its last component replaced by `other` ("a/b", "c" -> "a/c"; "b", "c" -> "c")."""
    head, sep, _last = name.rpartition("/")
    return head + sep + other
