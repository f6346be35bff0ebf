"""The seam to the kernel: the Sys interface (sysapi), its real implementation
(sys_linux + sys_observe, sys_classic for kernels without the new mount API),
the raw system calls, path resolution that never follows symlinks, failpoints,
and acting inside another mount namespace. Everything that does I/O on mounts
lives here; nothing above this package calls os/ctypes to change a mount."""
