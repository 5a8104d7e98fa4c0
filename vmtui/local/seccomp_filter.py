"""The seccomp filter every command in a VM runs under, built with libseccomp (through `pyseccomp`).

The daemon builds the filter once and hands the compiled BPF program to `nshelper.py enter`, which
installs it (no_new_privs + PR_SET_SECCOMP) right before exec: the helper stays stdlib-only.

Everything is allowed except what a VM has no business doing, which fails with EPERM: mounting
anything (a VM's root never needs to: its mounts are made for it, and mounting a cgroup or bpf
filesystem is how a VM would lift its own limits), entering or creating user namespaces (nested
namespaces are where capabilities come back), kernel keyrings, bpf(), module loading, kexec and
reboot, file handles (`open_by_handle_at` walks out of any mount), perf events, userfaultfd,
swap, quotas, accounting, the kernel log and raw port I/O. clone3() answers ENOSYS so that C libraries
fall back to clone(), whose flags a filter can inspect. Syscalls of other architectures (32-bit
x86 on x86_64, for instance) kill the process: the checks above only hold for the native table.
"""

from __future__ import annotations

import errno
import functools
import tempfile

import pyseccomp

CLONE_NEWUSER = 0x10000000

DENIED = (
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "setns",
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "open_by_handle_at",
    "name_to_handle_at",
    "perf_event_open",
    "userfaultfd",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "uselib",
)
"""Syscalls a VM never gets."""


@functools.cache
def vm_filter_bpf() -> bytes:
    """The compiled filter (an array of `struct sock_filter`), ready for PR_SET_SECCOMP."""
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    denied = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED:  # libseccomp skips names this architecture lacks
        rules.add_rule(denied, name)
    new_user = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)
    rules.add_rule(denied, "unshare", new_user)
    rules.add_rule(denied, "clone", new_user)
    rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as compiled:
        rules.export_bpf(compiled)
        compiled.seek(0)
        return compiled.read()
