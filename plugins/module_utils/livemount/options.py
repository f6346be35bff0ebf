"""Option words <-> canonical flags, propagation and filesystem options.

A user's option list (mount(8) -o words) splits three ways:
* per-mount flags (ro, nosuid, nodev, noexec, the atime family): they belong
  to one mount and change live with mount_setattr(2);
* propagation (private, shared, slave, unbindable): a separate call;
* filesystem (superblock) options: everything else, normalized per type so
  that what a user wrote and what /proc/self/mountinfo shows compare equal.

ValueError messages here are causes (`invalid tmpfs mode=9`); the caller
names the entry around them.
"""

import functools
import re

from .model import ATIME_FLAGS, MOUNT_FLAGS, OVERLAY, TMPFS

# mount_setattr(2) attribute bits (include/uapi/linux/mount.h).
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80

# mount(2) propagation flags.
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

_ATTR_BITS = {
    "ro": MOUNT_ATTR_RDONLY,
    "nosuid": MOUNT_ATTR_NOSUID,
    "nodev": MOUNT_ATTR_NODEV,
    "noexec": MOUNT_ATTR_NOEXEC,
    "nodiratime": MOUNT_ATTR_NODIRATIME,
}
_ATIME_BITS = {None: MOUNT_ATTR_RELATIME, "noatime": MOUNT_ATTR_NOATIME, "strictatime": MOUNT_ATTR_STRICTATIME}
_PROPAGATION_BITS = {"private": MS_PRIVATE, "shared": MS_SHARED, "slave": MS_SLAVE, "unbindable": MS_UNBINDABLE}

# Word -> (flag, on). Each pair is one switch; the later word wins.
_SWITCHES = {"ro": ("ro", True), "rw": ("ro", False), "nosuid": ("nosuid", True), "suid": ("nosuid", False),
             "nodev": ("nodev", True), "dev": ("nodev", False), "noexec": ("noexec", True), "exec": ("noexec", False),
             "nodiratime": ("nodiratime", True), "diratime": ("nodiratime", False)}
# Word -> atime mode (None = the kernel default relatime). mount(8): `atime`,
# `nostrictatime` and `norelatime` all leave the kernel default in force.
_ATIME_WORDS = {"noatime": "noatime", "strictatime": "strictatime",
                "relatime": None, "atime": None, "nostrictatime": None, "norelatime": None}
# Words mount(8)/fstab(5) consume in user space: they never reach the kernel.
_DROPPED = frozenset(
    {"defaults", "auto", "noauto", "nofail", "_netdev", "user", "users", "nouser", "owner", "group", "bind", "rbind"}
)

OVERLAY_LAYER_KEYS = frozenset({"lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir"})
_TMPFS_TYPES = frozenset({TMPFS, "devtmpfs"})  # both print their options with shmem_show_options
_OVL_ESCAPED = re.compile(r"\\(.?)", re.DOTALL)
_SUFFIXES = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


def split_options(fstype, options):
    """Return (flags, fs_options, propagation) for option words a user wrote for an entry of `fstype`.

    Raises ValueError for recursive propagation words (rshared...), overlay
    layer keys (they belong in lower/upper/work) and, for binds, any
    filesystem option.
    """
    switches = {}
    atime = None
    propagation = None
    fs_words = []
    for word in options:
        word = word.strip()
        if not word or word in _DROPPED or word.startswith(("x-", "X-", "comment=")):
            continue
        if word in _SWITCHES:
            flag, on = _SWITCHES[word]
            switches[flag] = on
        elif word in _ATIME_WORDS:
            atime = _ATIME_WORDS[word]
        elif word in _PROPAGATION_BITS:
            propagation = word
        elif word[:1] == "r" and word[1:] in _PROPAGATION_BITS:
            raise ValueError("recursive propagation is not supported: %s (use %s)" % (word, word[1:]))
        else:
            fs_words.append(word)
    flags = {flag for flag, on in switches.items() if on}
    if atime is not None:
        flags.add(atime)
    if fstype == OVERLAY:
        layers = [w for w in fs_words if _key(w) in OVERLAY_LAYER_KEYS]
        if layers:
            raise ValueError("overlay layers go in lower/upper/work, not in options: %s" % ", ".join(layers))
    if fstype == "bind" and fs_words:
        raise ValueError("bind mounts take no filesystem options: %s" % ", ".join(fs_words))
    return frozenset(flags), normalize_fs_options(fstype, fs_words), propagation


def normalize_fs_options(fstype, items, strict=True):
    """Return the canonical FsOptions (sorted (key, value-or-None) tuple) for `items` of `fstype`.

    `items` mixes "key=value" / "key" strings and (key, value) pairs; the
    last of duplicate keys wins. tmpfs sizes become bytes, counts plain
    integers, modes octal without leading zeros; overlay layer keys are left
    out (they are Entry.lower/data/upper/work). With `strict` False a value
    that does not parse is kept as written instead of raising ValueError
    (the live table must never be refused because of one odd value).
    """
    out = {}
    for item in items:
        if isinstance(item, str):
            key, eq, value = item.partition("=")
            value = value if eq else None
        else:
            key, value = item
        key = key.strip()
        if not key:
            if isinstance(item, str) and not item.strip():
                continue
            raise ValueError("option without a name: %s" % (item if isinstance(item, str) else "=%s" % value))
        if fstype == OVERLAY and key in OVERLAY_LAYER_KEYS:
            continue
        if fstype in _TMPFS_TYPES and value is not None:
            try:
                value = _normalize_tmpfs_value(key, value)
            except ValueError:
                if strict:
                    raise
        out[key] = value
    return tuple(sorted(out.items(), key=lambda kv: kv[0]))


def _key(word):
    return word.partition("=")[0].strip()


def _normalize_tmpfs_value(key, value):
    """Return the canonical spelling of one tmpfs option value (mm/shmem.c shmem_parse_one)."""
    v = value.strip()
    if key in ("size", "nr_blocks", "nr_inodes"):
        if v.endswith("%"):
            # Relative to RAM at mount time; the kernel shows the result, not the percentage.
            return "%d%%" % _parse_number(v[:-1], key, value)
        multiplier = 1
        if v[-1:].lower() in _SUFFIXES:
            multiplier = 1 << _SUFFIXES[v[-1:].lower()]
            v = v[:-1]
        return str(_parse_number(v, key, value) * multiplier)
    if key == "mode":
        if not v or v.strip("01234567"):
            raise ValueError("invalid tmpfs mode=%s: expected an octal number" % value)
        # fsparam_u32oct; the kernel keeps mode & 07777 and prints it "%03ho".
        return "%o" % (int(v, 8) & 0o7777)
    if key in ("uid", "gid"):
        if not (v.isascii() and v.isdigit()):
            raise ValueError("invalid tmpfs %s=%s: expected a number" % (key, value))
        return str(int(v))
    return value


_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def _parse_number(text, key, value):
    """Return the integer memparse(3)/simple_strtoull base 0 reads: 0x hex, leading 0 octal, else decimal."""
    if not _NUMBER.fullmatch(text):
        raise ValueError(
            "invalid tmpfs %s=%s: expected a number with an optional k/m/g/t/p/e suffix%s"
            % (key, value, " or a percentage" if key == "size" else "")
        )
    return int(text, 16) if text[:2] in ("0x", "0X") else int(text, 8 if text[0] == "0" else 10)


@functools.lru_cache(maxsize=1024)
def parse_mount_options(raw):
    """Return the flags (MOUNT_FLAGS vocabulary) of a mountinfo per-mount options field.

    show_mnt_opts() in fs/proc_namespace.c prints `relatime` or `noatime`
    when set and nothing for strictatime: no atime word means strictatime.
    Words livemount does not manage (nosymfollow, idmapped) are ignored.
    """
    words = raw.split(",")
    found = {w for w in words if w in _ATTR_BITS or w == "noatime"}
    if "noatime" not in found and "relatime" not in words:
        found.add("strictatime")
    return frozenset(found)


def flags_to_attrs(flags):
    """Return (attr_set, attr_clr) for mount_setattr(2) making the per-mount flags exactly `flags`.

    Every managed flag not in `flags` is cleared. The atime mode is a field,
    not a bit: mount_setattr(2) wants MOUNT_ATTR__ATIME in attr_clr and the
    one chosen mode in attr_set (relatime is 0).
    """
    unknown = set(flags) - MOUNT_FLAGS
    if unknown:
        raise ValueError("unknown per-mount flag: %s" % ", ".join(sorted(unknown)))
    atime = set(flags) & ATIME_FLAGS
    if len(atime) > 1:
        raise ValueError("conflicting atime flags: %s" % ", ".join(sorted(atime)))
    attr_set = 0
    attr_clr = MOUNT_ATTR__ATIME
    for flag, bit in _ATTR_BITS.items():
        if flag in flags:
            attr_set |= bit
        else:
            attr_clr |= bit
    attr_set |= _ATIME_BITS[atime.pop() if atime else None]
    return attr_set, attr_clr


def propagation_flag(name):
    """Return the MS_* bit that sets propagation `name` (private, shared, slave, unbindable)."""
    try:
        return _PROPAGATION_BITS[name]
    except KeyError:
        raise ValueError("unknown propagation: %s" % name) from None


def format_options(flags, fs_options):
    """Return the canonical option words: `ro` or `rw` first, the other flags sorted, then key[=value]."""
    words = ["ro" if "ro" in flags else "rw"]
    if flags:  # loops, no generators: this runs for every line of a diff and every mount `show` lists
        words.extend(sorted(flags) if "ro" not in flags else [f for f in sorted(flags) if f != "ro"])
    for k, v in fs_options:
        words.append(k if v is None else "%s=%s" % (k, v))
    return words


# ---- overlay layer lists ----------------------------------------------------

def ovl_unescape(text):
    """Return `text` with overlayfs's backslash escapes removed (`\\:` -> `:`; fs/overlayfs ovl_unescape)."""
    # A backslash takes the next character literally; a trailing one is dropped, as in the kernel.
    return _OVL_ESCAPED.sub(r"\1", text) if "\\" in text else text


def ovl_escape(path):
    """Return `path` escaped for a legacy `lowerdir=` list or upperdir/workdir (`\\`, `:`, `,`)."""
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def split_lowerdir(value):
    """Return (lower, data): the layers of a legacy `lowerdir=` value, top first.

    Unescaped `:` separates layers; the first `::` starts the data-only layers
    (Documentation/filesystems/overlayfs.rst). A backslash escapes the next
    character (fs/overlayfs/params.c ovl_parse_param_split_lowerdirs).
    """
    if "\\" not in value and ":::" not in value:
        head, sep, tail = value.partition("::")
        lower = head.split(":")
        data = tail.replace("::", ":").split(":") if sep else []
        if "" in lower or "" in data:
            raise ValueError("empty layer in lowerdir=%s" % value)
        return tuple(lower), tuple(data)
    lower, data, cur = [], [], []
    target = lower
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\" and i + 1 < n:
            cur.append(value[i + 1])
            i += 2
            continue
        if c == ":":
            if not cur:
                raise ValueError("empty layer in lowerdir=%s" % value)
            target.append("".join(cur))
            cur = []
            if value.startswith("::", i):
                if value.startswith(":::", i):
                    raise ValueError("more than two colons in lowerdir=%s" % value)
                target = data
                i += 1
            i += 1
            continue
        if c != "\\":
            cur.append(c)
        i += 1
    if not cur:
        raise ValueError("empty layer in lowerdir=%s" % value)
    target.append("".join(cur))
    return tuple(lower), tuple(data)


# ---- comparing desired and live filesystem options --------------------------

def fs_options_match(fstype, desired, live, defaults=None):
    """Return True when every desired filesystem option is in force on the live mount.

    An option the kernel hides because it equals the default counts as
    present when the desired value is that default; see fs_options_diff.
    """
    return not fs_options_diff(fstype, desired, live, defaults)


def fs_options_diff(fstype, desired, live, defaults=None):
    """Return [(key, live_value, desired_value)] for desired options not in force on the live mount.

    `live_value` is None when the kernel does not show the option. `defaults`:
    for overlay the /sys/module/overlay/parameters dict (Y/N values); for
    tmpfs optional {"ram_pages": N, "page_size": N} so that sizes relative to
    RAM and hidden default sizes can be checked (without it a percentage
    size matches any live size: the kernel only shows the computed bytes).
    """
    want = normalize_fs_options(fstype, desired)
    have = dict(normalize_fs_options(fstype, live, strict=False))
    defaults = defaults or {}
    out = []
    for key, value in want:
        if fstype in _TMPFS_TYPES:
            ok, shown = _tmpfs_ok(key, value, have, defaults)
        elif fstype == OVERLAY:
            ok, shown = _overlay_ok(key, value, have, defaults)
        else:
            ok, shown = (key in have and have[key] == value), have.get(key)
        if not ok:
            out.append((key, shown, value))
    return out


def _tmpfs_ok(key, value, have, defaults):
    """Return (matches, live value shown) for one desired tmpfs option (mm/shmem.c shmem_show_options)."""
    page = int(defaults.get("page_size") or 4096)
    ram_pages = int(defaults["ram_pages"]) if defaults.get("ram_pages") else None
    if key in ("size", "nr_blocks") and value is not None:
        # nr_blocks is shown as size; both count whole pages. Hidden means the default: half of RAM.
        shown = have.get("size")
        pages = _tmpfs_pages(key, value, page, ram_pages)
        if shown is None:
            if pages is None:  # a percentage, RAM size unknown
                return value == "50%", None
            return ram_pages is not None and pages == ram_pages // 2, None
        if pages is None:
            return True, shown  # a percentage, RAM size unknown: the kernel only shows bytes
        return shown.isdigit() and int(shown) == pages * page, shown
    if key == "nr_inodes" and value is not None:
        shown = have.get(key)
        if value.endswith("%"):
            return True, shown
        if shown is None:
            return ram_pages is not None and int(value) == ram_pages // 2, None
        return shown == value, shown
    if key in have:
        return have[key] == value, have[key]
    if key in ("inode32", "inode64"):
        # Shown unless 32-bit inodes are both chosen and the CONFIG_TMPFS_INODE64=n default.
        return key == "inode32" and "inode64" not in have, None
    hidden = {"mode": "1777", "uid": "0", "gid": "0", "huge": "never", "mpol": "default"}
    return value is not None and hidden.get(key) == value, None


def hidden_defaults(fstype, keys, defaults):
    """Return [(key, value)] setting each option in `keys`, which the kernel did not show, back to its default.

    A tmpfs hides size, nr_blocks and nr_inodes at half of RAM in pages (from
    `defaults`, Sys.tmpfs_defaults(); nothing without it) and huge at never
    (mm/shmem.c, shmem_show_options). Other options and filesystems: nothing
    is known, nothing is returned.
    """
    if fstype not in _TMPFS_TYPES:
        return []
    ram_pages, page = defaults.get("ram_pages"), defaults.get("page_size")
    out = {}
    for key in keys:
        if key in ("size", "nr_blocks") and ram_pages and page:
            out["size"] = str(ram_pages // 2 * page)  # whole pages: the kernel rounds a size up to them
        elif key == "nr_inodes" and ram_pages:
            out["nr_inodes"] = str(ram_pages // 2)
        elif key == "huge":
            out["huge"] = "never"
    return sorted(out.items())


def _tmpfs_pages(key, value, page, ram_pages):
    """Return the number of pages a desired size/nr_blocks asks for, None when not computable."""
    if value is None:
        return None
    if value.endswith("%"):
        if ram_pages is None:
            return None
        # shmem_parse_one: size = pct * totalram_pages * PAGE_SIZE / 100, rounded up to pages.
        return -(-(int(value[:-1]) * ram_pages * page // 100) // page)
    if key == "nr_blocks":
        return int(value)
    return -(-int(value) // page)


def overlay_defaults_map(params):
    """Return {option: default value} for overlay from /sys/module/overlay/parameters values.

    Mirrors fs/overlayfs/params.c: redirect_dir defaults to `on` if the
    redirect_dir parameter is Y, else `follow` or `nofollow` after
    redirect_always_follow; xino to `auto` or `off` after xino_auto.
    """
    def yes(name, default):
        v = params.get(name)
        return default if v is None else str(v).strip().upper() in ("Y", "1", "ON")

    if yes("redirect_dir", False):
        redirect = "on"
    else:
        redirect = "follow" if yes("redirect_always_follow", True) else "nofollow"
    return {
        "redirect_dir": redirect,
        "index": "on" if yes("index", False) else "off",
        "metacopy": "on" if yes("metacopy", False) else "off",
        "nfs_export": "on" if yes("nfs_export", False) else "off",
        "xino": "auto" if yes("xino_auto", False) else "off",
        "uuid": "auto",
        "verity": "off",
    }


def _overlay_ok(key, value, have, defaults):
    """Return (matches, live value shown) for one desired overlay option (ovl_show_options)."""
    shown = have.get(key)
    if key in have:
        if key in ("uuid", "xino") and value == "auto":
            return True, shown  # auto resolves at mount time to what is shown
        return shown == value, shown
    if key == "xino":
        # ovl_show_options hides xino whenever all layers share one filesystem.
        return True, None
    return overlay_defaults_map(defaults).get(key) == value and value is not None, None


def add_overlay_layer(layers, key, value):
    """Record one overlay layer option (`key` in OVERLAY_LAYER_KEYS, value unescaped) into `layers`.

    `layers` is a dict with lists "lower" and "data" and optional "upper"/"work".
    The legacy `lowerdir=` list keeps overlayfs's own escapes and `::` before
    data-only layers; `lowerdir+`/`datadir+` paths are literal; upperdir and
    workdir pass through overlayfs's unescaping when mounted.
    """
    if key == "lowerdir":
        legacy_lower, legacy_data = split_lowerdir(value)
        layers["lower"].extend(legacy_lower)
        layers["data"].extend(legacy_data)
    elif key == "lowerdir+":
        layers["lower"].append(value)
    elif key == "datadir+":
        layers["data"].append(value)
    else:
        layers["upper" if key == "upperdir" else "work"] = ovl_unescape(value)
