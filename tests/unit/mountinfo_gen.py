"""Test helpers: write mountinfo lines the way the kernel does, and big generated tables.

Only tests use this; the engine never writes mountinfo.
"""


def mangle(text, special=" \t\n\\"):
    """Return `text` escaped like the kernel's mangle()/seq_escape(): each special byte as \\ooo."""
    out = []
    for ch in text:
        out.append("\\%03o" % ord(ch) if ch in special else ch)
    return "".join(out)


def format_option(key, value=None):
    """Return one super option as seq_show_option() prints it (`,= \\t\\n\\` escaped in the name)."""
    name = mangle(key, ",= \t\n\\")
    if value is None:
        return name
    return name + "=" + mangle(value, ", \t\n\\")


def format_mountinfo_line(
    mount_id,
    parent_id,
    dev,
    root,
    mount_point,
    mount_options="rw,relatime",
    optional=(),
    fstype="tmpfs",
    source="none",
    super_options=(("rw", None),),
):
    """Return one /proc/self/mountinfo line (no newline) for the given decoded fields.

    `super_options` is a sequence of (key, value-or-None) printed with
    format_option(); `optional` a sequence of tags such as "shared:3".
    """
    fields = [str(mount_id), str(parent_id), "%d:%d" % dev, mangle(root), mangle(mount_point), mount_options]
    fields.extend(optional)
    fields.append("-")
    fields.extend([fstype, mangle(source), ",".join(format_option(k, v) for k, v in super_options)])
    return " ".join(fields)


def generate_table(count, first_id=20):
    """Return a mountinfo text of `count` mounts: a root, then a mix of tmpfs, binds and overlays.

    Mount points nest up to four levels and some paths are stacked twice, as
    on a busy container host.
    """
    lines = [format_mountinfo_line(first_id, 1, (254, 0), "/", "/", fstype="ext4", source="/dev/vda",
                                   super_options=(("rw", None), ("errors", "remount-ro")))]
    parents = [(first_id, "/")]
    for i in range(1, count):
        mount_id = first_id + i
        kind = i % 4
        parent_id, parent_mp = parents[(i * 7919) % len(parents)]
        if i % 50 == 0 and parent_mp != "/":
            mount_point = parent_mp  # stacked on its parent (never on "/": that would hide everything)
        else:
            mount_point = (parent_mp.rstrip("/") + "/m%d" % i)
        if kind == 0:
            line = format_mountinfo_line(mount_id, parent_id, (0, 100 + i), "/", mount_point, "rw,nosuid,nodev",
                                         ["shared:%d" % i], "tmpfs", "tmpfs",
                                         (("rw", None), ("size", "65536k"), ("mode", "755")))
        elif kind == 1:
            line = format_mountinfo_line(mount_id, parent_id, (254, 0), "/srv/data %d" % i, mount_point,
                                         "ro,relatime", ["master:%d" % (i - 1)], "ext4", "/dev/vda",
                                         (("rw", None), ("errors", "remount-ro")))
        elif kind == 2:
            line = format_mountinfo_line(mount_id, parent_id, (0, 100 + i), "/", mount_point, "rw,relatime", (),
                                         "overlay", "overlay",
                                         (("rw", None), ("lowerdir", "/l/%d:/l/base" % i), ("upperdir", "/u/%d" % i),
                                          ("workdir", "/w/%d" % i), ("uuid", "on")))
        else:
            line = format_mountinfo_line(mount_id, parent_id, (0, 22), "/", mount_point, "rw,nosuid,nodev,noexec",
                                         (), "proc", "proc", (("rw", None),))
        lines.append(line)
        if len(mount_point.split("/")) < 5:
            parents.append((mount_id, mount_point))
    return "\n".join(lines) + "\n"
