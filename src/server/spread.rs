//! Spreading one router's datagrams over every receive thread.
//!
//! The receive threads each own one `SO_REUSEPORT` socket of a group, and by default the
//! kernel picks the socket by hashing the datagram's addresses and ports: every packet of
//! one NAS source port (a single busy router) lands on the same thread while the others
//! idle. A classic BPF program attached to the group (`SO_ATTACH_REUSEPORT_CBPF`, Linux
//! 4.5+) replaces the hash: it returns a random socket index per datagram, so one router's
//! load is shared by every thread. RADIUS requests are independent (the duplicate cache is
//! shared by all threads), so their order across threads does not matter. Where the
//! option is not available the kernel keeps hashing, and we say so once in the log.

use std::io;
use std::net::UdpSocket;

/// `SO_ATTACH_REUSEPORT_CBPF` from `asm-generic/socket.h` (the value on x86-64, arm64 and
/// every architecture using the generic socket numbers; the `libc` crate defines it for
/// Android only).
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// Make the kernel pick one of the `n` sockets of `group`'s reuseport group at random for
/// each datagram (`socket index = random() mod n`).
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]
pub(super) fn spread_evenly(group: &UdpSocket, n: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    let n = u32::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Classic BPF (linux/filter.h): A = random u32 (the SKF_AD_RANDOM ancillary load);
    // A %= n; return A. An index the group does not have would fall back to the hash.
    let mut program = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: (libc::SKF_AD_OFF + libc::SKF_AD_RANDOM) as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: n,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_A) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: `fprog` is a valid `sock_fprog` whose `filter` points at `program`, an array
    // of exactly `len` initialised `sock_filter`s; both live on this stack frame for the
    // whole call, and the kernel copies the program before `setsockopt` returns (it keeps
    // no pointer to our memory). The option length is the size of `sock_fprog`, and the fd
    // is an open socket borrowed from `group` for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            group.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            std::ptr::from_ref(&fprog).cast::<libc::c_void>(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Other platforms: the kernel's hash stays in charge.
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "arm",
        target_arch = "riscv64"
    )
)))]
pub(super) fn spread_evenly(_group: &UdpSocket, _n: usize) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}
