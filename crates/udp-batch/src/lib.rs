//! Batched UDP I/O (Linux `sendmmsg` / `recvmmsg` / `ppoll`), for the server's receive
//! threads and the load tools.
//!
//! At 100,000+ requests a second on two cores, one system call per datagram is a large
//! share of the budget; these wrappers move up to [`BATCH`] datagrams per call.
//!
//! This is the workspace's system-call `unsafe` code, kept in one small crate (the server
//! and the load tools deny `unsafe_code`). Why it is sound, in one place:
//! - Zeroed values: `sockaddr_storage`, `iovec` and `mmsghdr` are C plain-old-data structs
//!   of integers and raw pointers, for which all-zero bytes are a valid value (null
//!   pointers, zero lengths).
//! - Address casts: `sockaddr_storage` is, by POSIX definition, at least as large as and
//!   suitably aligned for every `sockaddr_*`; we only reinterpret it as the type its
//!   `ss_family` (which we or the kernel wrote) names, and every byte is initialised.
//! - System calls: every pointer handed to `sendmmsg` / `recvmmsg` / `ppoll` points into a
//!   live local array, `self`, or the caller's borrowed slices, all of which outlive the
//!   (synchronous) call; the counts passed are at most the arrays' lengths (`BATCH`); the
//!   kernel writes only into `recvmmsg`'s buffers, which we own mutably, and at most
//!   `iov_len` bytes into each; results are used only after checking for errors.

#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::time::Duration;

/// Most datagrams moved by one call.
pub const BATCH: usize = 32;
/// Receive buffer size per datagram: one byte more than the largest RADIUS packet (4096),
/// so an oversized datagram shows as longer than legal instead of silently truncated.
pub const MAX_DATAGRAM: usize = 4097;

/// A socket address in the kernel's form.
#[derive(Clone, Copy)]
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_socket_addr())
    }
}

impl RawAddr {
    /// Convert from a std address.
    pub fn new(addr: SocketAddr) -> Self {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in>(), sin) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in6>(), sin6) };
                size_of::<libc::sockaddr_in6>()
            }
        };
        Self {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// Convert back; `None` for families other than IPv4/IPv6.
    pub fn to_socket_addr(self) -> Option<SocketAddr> {
        match i32::from(self.storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: family says the storage holds a sockaddr_in.
                let sin = unsafe { *(&raw const self.storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { *(&raw const self.storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Same address (family, port, IP)?
    pub fn same(&self, other: &Self) -> bool {
        self.to_socket_addr() == other.to_socket_addr()
    }
}

/// Send each `(datagram, destination)` pair, `BATCH` per `sendmmsg` call. Returns how many
/// were handed to the kernel; stops early on `EAGAIN` or an error after the first packet.
/// On a `connected` socket the destinations are ignored (the kernel's cached route is used).
pub fn send_many(fd: RawFd, pkts: &[(&[u8], &RawAddr)], connected: bool) -> io::Result<usize> {
    let mut done = 0;
    while done < pkts.len() {
        let chunk = &pkts[done..pkts.len().min(done + BATCH)];
        // SAFETY: plain old data, all-zero is valid.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (data, addr)) in chunk.iter().enumerate() {
            iov[i] = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            if !connected {
                msgs[i].msg_hdr.msg_name = (&raw const addr.storage) as *mut libc::c_void;
                msgs[i].msg_hdr.msg_namelen = addr.len;
            }
            msgs[i].msg_hdr.msg_iov = &raw mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `msgs[..chunk.len()]` point at `iov` (this frame) and at the datagrams
        // and addresses borrowed by `chunk`, all alive for this synchronous call;
        // `chunk.len() <= BATCH` entries are initialised. `sendmmsg` only reads them (the
        // `*mut` in `iov_base` / `msg_name` is the C signature, not a write).
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), chunk.len() as libc::c_uint, 0) };
        if let Err(end) = account_sent(n, &mut done, chunk.len()) {
            return end;
        }
    }
    Ok(done)
}

/// Room for one `IP_PKTINFO` control message (`CMSG_SPACE(sizeof(in_pktinfo))` is 32 bytes
/// on 64-bit Linux; 64 leaves a margin), as `u64`s so that it is aligned for `cmsghdr`.
const PKTINFO_SPACE_WORDS: usize = 8;

/// Like [`send_many`] on an unconnected IPv4 socket, but each datagram leaves from the IPv4
/// source address given with it (an `IP_PKTINFO` control message with `ipi_spec_dst`);
/// `None` lets the kernel choose as usual. The socket must be bound to the wildcard
/// address (`0.0.0.0`) for replies to the chosen sources to reach it. The source must be
/// an address of this host: on Linux every address of 127.0.0.0/8 is (loopback), which
/// is how one process poses as thousands of routers.
pub fn send_many_from(
    fd: RawFd,
    pkts: &[(&[u8], &RawAddr, Option<Ipv4Addr>)],
) -> io::Result<usize> {
    // SAFETY: CMSG_SPACE / CMSG_LEN are pure arithmetic on a length.
    let (space, cmsg_len) = unsafe {
        (
            libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize,
            libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize,
        )
    };
    assert!(
        space <= PKTINFO_SPACE_WORDS * 8,
        "IP_PKTINFO control message larger than its buffer"
    );
    let mut done = 0;
    while done < pkts.len() {
        let chunk = &pkts[done..pkts.len().min(done + BATCH)];
        // SAFETY: plain old data, all-zero is valid.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut control = [[0u64; PKTINFO_SPACE_WORDS]; BATCH];
        for (i, (data, addr, source)) in chunk.iter().enumerate() {
            iov[i] = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            let hdr = &mut msgs[i].msg_hdr;
            hdr.msg_name = (&raw const addr.storage) as *mut libc::c_void;
            hdr.msg_namelen = addr.len;
            hdr.msg_iov = &raw mut iov[i];
            hdr.msg_iovlen = 1;
            if let Some(source) = source {
                hdr.msg_control = control[i].as_mut_ptr().cast();
                hdr.msg_controllen = space as _;
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(source.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                // SAFETY: `msg_control` points at `control[i]`, `space` bytes of this
                // frame aligned for `cmsghdr` (u64s), so CMSG_FIRSTHDR is non-null and it
                // and CMSG_DATA point inside it: a header then `in_pktinfo` fit in `space`
                // (checked above). The data is written unaligned.
                unsafe {
                    let cmsg = libc::CMSG_FIRSTHDR(hdr);
                    (*cmsg).cmsg_level = libc::IPPROTO_IP;
                    (*cmsg).cmsg_type = libc::IP_PKTINFO;
                    (*cmsg).cmsg_len = cmsg_len as _;
                    std::ptr::write_unaligned(
                        libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>(),
                        info,
                    );
                }
            }
        }
        // SAFETY: as in `send_many`; the control buffers are on this frame too.
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), chunk.len() as libc::c_uint, 0) };
        if let Err(end) = account_sent(n, &mut done, chunk.len()) {
            return end;
        }
    }
    Ok(done)
}

/// Adds one `sendmmsg` result for a chunk of `len` datagrams to `done`. `Err` ends the
/// sending with its result: the count so far after a short send or `EAGAIN` (or any error
/// after the first datagram), the error when nothing was sent.
fn account_sent(n: libc::c_int, done: &mut usize, len: usize) -> Result<(), io::Result<usize>> {
    if n < 0 {
        let err = io::Error::last_os_error();
        if *done > 0 || err.kind() == io::ErrorKind::WouldBlock {
            return Err(Ok(*done));
        }
        return Err(Err(err));
    }
    *done += n as usize;
    if (n as usize) < len {
        return Err(Ok(*done));
    }
    Ok(())
}

/// Buffers for receiving up to [`BATCH`] datagrams per call.
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    addrs: [libc::sockaddr_storage; BATCH],
    lens: [usize; BATCH],
    count: usize,
}

impl RecvBatch {
    /// Allocate the buffers (once per socket).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            bufs: Box::new([[0u8; MAX_DATAGRAM]; BATCH]),
            // SAFETY: plain old data, all-zero is valid.
            addrs: unsafe { zeroed() },
            lens: [0; BATCH],
            count: 0,
        }
    }

    /// Receive what is queued without blocking. Returns the number received (0 when none).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        match self.try_recv(fd) {
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                Ok(0)
            }
            other => other,
        }
    }

    /// Receive what is queued without blocking; nothing queued is `WouldBlock` (what an
    /// async runtime's readiness tracking needs to hear). Never returns `Ok(0)`.
    pub fn try_recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: plain old data, all-zero is valid.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iov[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            };
            msgs[i].msg_hdr.msg_name = (&raw mut self.addrs[i]).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &raw mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: each of the `BATCH` headers points at `iov[i]` (this frame), which
        // points at `self.bufs[i]` (`MAX_DATAGRAM` bytes, `iov_len`), and at
        // `self.addrs[i]` (`msg_namelen` bytes); all are exclusively borrowed through
        // `&mut self` for this synchronous call, so the kernel's writes alias nothing.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (len, msg) in self.lens.iter_mut().zip(msgs.iter()).take(n) {
            *len = (msg.msg_len as usize).min(MAX_DATAGRAM);
        }
        self.count = n;
        Ok(n)
    }

    /// Datagram `i` of the last `recv` and its source address.
    pub fn get(&self, i: usize) -> Option<(&[u8], RawAddr)> {
        if i >= self.count {
            return None;
        }
        let data = self.bufs.get(i)?.get(..*self.lens.get(i)?)?;
        let storage = *self.addrs.get(i)?;
        let len = match i32::from(storage.ss_family) {
            libc::AF_INET => size_of::<libc::sockaddr_in>(),
            _ => size_of::<libc::sockaddr_in6>(),
        };
        Some((
            data,
            RawAddr {
                storage,
                len: len as libc::socklen_t,
            },
        ))
    }
}

/// Wait until `fd` is readable or `timeout` passes. Returns true when readable.
pub fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(3600) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: one valid pollfd and timespec on this frame; no signal mask.
    let n = unsafe { libc::ppoll(&raw mut pfd, 1, &raw const ts, std::ptr::null()) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    Ok(n > 0)
}

/// Spread the datagrams of a `SO_REUSEPORT` group over its `group_size` sockets at random,
/// instead of by the kernel's hash of source and destination (which puts every datagram of
/// one source address and port, one busy router, on one socket). `fd` is any member of the
/// group; the kernel applies the program to the whole group, indexing sockets in the order
/// they joined it. Linux only (`SO_ATTACH_REUSEPORT_CBPF`, since 4.5).
pub fn spread_reuseport_randomly(fd: RawFd, group_size: u32) -> io::Result<()> {
    if group_size < 2 {
        return Ok(());
    }
    // Classic BPF: A = a random u32 (ancillary load); A %= group_size; return A (the index
    // of the socket that gets the datagram).
    let program = [
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
            k: group_size,
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
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `program` (3 initialised instructions, `len` says so), both
    // on this frame and alive for the synchronous call; the kernel copies the program and
    // only reads through the pointer; `optlen` is the size of the `sock_fprog` passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&raw const fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
