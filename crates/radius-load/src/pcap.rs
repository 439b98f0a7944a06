//! Captures: reading RADIUS datagrams out of pcap / pcapng files (file formats parsed by the
//! `pcap-parser` crate; the link, IP and UDP headers by the small decoder here), and
//! writing classic pcap files for `bench --record`.
//!
//! Link types read: Ethernet (with 802.1Q/802.1ad tags), Linux cooked v1 and v2, raw IP
//! (101, 228, 229) and BSD loopback (0, 108). IPv4 and IPv6 (no extension headers) over UDP.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, UNIX_EPOCH};

use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError};

use crate::engine::Record;
use crate::error::LoadError;

/// One UDP datagram found in a capture.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Capture timestamp (since the Unix epoch).
    pub time: Duration,
    /// Source address.
    pub src: SocketAddr,
    /// Destination address.
    pub dst: SocketAddr,
    /// UDP payload.
    pub data: Vec<u8>,
}

/// Read every UDP datagram of a pcap or pcapng file whose source or destination port is in
/// `ports`.
pub fn read_udp(path: &Path, ports: &[u16]) -> Result<Vec<Datagram>, LoadError> {
    let bad = |reason: String| LoadError::Capture {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(LoadError::io(format!("opening {}", path.display())))?;
    let mut reader = pcap_parser::create_reader(1 << 20, file)
        .map_err(|e| bad(format!("not a pcap or pcapng file ({e:?})")))?;
    let mut out = Vec::new();
    // Legacy pcap: one link type; pcapng: per interface (linktype, units per second, offset).
    let mut legacy: Option<(Linktype, bool)> = None;
    let mut interfaces: Vec<(Linktype, u64, u64)> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                let found = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some((h.network, h.is_nanosecond_precision()));
                        None
                    }
                    PcapBlockOwned::Legacy(b) => legacy.and_then(|(lt, nanos)| {
                        let frac = if nanos {
                            u64::from(b.ts_usec)
                        } else {
                            u64::from(b.ts_usec) * 1000
                        };
                        let t =
                            Duration::from_secs(u64::from(b.ts_sec)) + Duration::from_nanos(frac);
                        decode_frame(lt, b.data).map(|d| (t, d))
                    }),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        interfaces.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let res = idb.ts_resolution().unwrap_or(1_000_000);
                        interfaces.push((idb.linktype, res, idb.ts_offset().max(0) as u64));
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => interfaces
                        .get(epb.if_id as usize)
                        .and_then(|&(lt, res, off)| {
                            let (s, frac) = epb.decode_ts(off, res);
                            let nanos = u128::from(frac) * 1_000_000_000 / u128::from(res.max(1));
                            let t = Duration::from_secs(u64::from(s))
                                + Duration::from_nanos(nanos as u64);
                            decode_frame(lt, epb.data).map(|d| (t, d))
                        }),
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        interfaces.first().and_then(|&(lt, _, _)| {
                            decode_frame(lt, spb.data).map(|d| (Duration::ZERO, d))
                        })
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((time, (src, dst, payload))) = found
                    && (ports.contains(&src.port()) || ports.contains(&dst.port()))
                {
                    out.push(Datagram {
                        time,
                        src,
                        dst,
                        data: payload.to_vec(),
                    });
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    return Err(bad("truncated capture".into()));
                }
            }
            Err(e) => return Err(bad(format!("bad capture: {e:?}"))),
        }
    }
    Ok(out)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Link layer → (ethertype, network-layer bytes).
fn link_payload(lt: Linktype, frame: &[u8]) -> Option<(u16, &[u8])> {
    let by_version = |ip: &'_ [u8]| match ip.first()? >> 4 {
        4 => Some(0x0800),
        6 => Some(0x86dd),
        _ => None,
    };
    match lt {
        Linktype::ETHERNET => {
            let mut pos = 12;
            let mut ethertype = be16(frame, pos)?;
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                pos += 4;
                ethertype = be16(frame, pos)?;
            }
            Some((ethertype, frame.get(pos + 2..)?))
        }
        Linktype::LINUX_SLL => Some((be16(frame, 14)?, frame.get(16..)?)),
        Linktype::LINUX_SLL2 => Some((be16(frame, 0)?, frame.get(20..)?)),
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => Some((by_version(frame)?, frame)),
        Linktype::NULL | Linktype::LOOP => {
            let ip = frame.get(4..)?;
            Some((by_version(ip)?, ip))
        }
        _ => None,
    }
}

/// Decode a frame down to UDP: (source, destination, payload).
fn decode_frame(lt: Linktype, frame: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let (ethertype, ip) = link_payload(lt, frame)?;
    let (src, dst, udp) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if ip.first()? >> 4 != 4 || *ip.get(9)? != 17 || ihl < 20 {
                return None;
            }
            // Fragments other than the first carry no UDP header.
            if be16(ip, 6)? & 0x1fff != 0 {
                return None;
            }
            let total = usize::from(be16(ip, 2)?).min(ip.len());
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::from(Ipv4Addr::from(s)),
                IpAddr::from(Ipv4Addr::from(d)),
                ip.get(ihl..total)?,
            )
        }
        0x86dd => {
            if ip.first()? >> 4 != 6 || *ip.get(6)? != 17 {
                return None;
            }
            let total = (40 + usize::from(be16(ip, 4)?)).min(ip.len());
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::from(Ipv6Addr::from(s)),
                IpAddr::from(Ipv6Addr::from(d)),
                ip.get(40..total)?,
            )
        }
        _ => return None,
    };
    let sport = be16(udp, 0)?;
    let dport = be16(udp, 2)?;
    let ulen = usize::from(be16(udp, 4)?).clamp(8, udp.len());
    Some((
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
        udp.get(8..ulen)?,
    ))
}

/// Replace an unspecified address (a socket bound to 0.0.0.0) by a loopback one.
fn concrete(a: SocketAddr, other: SocketAddr) -> SocketAddr {
    if !a.ip().is_unspecified() {
        return a;
    }
    let ip = if other.ip().is_loopback() {
        other.ip()
    } else if a.is_ipv4() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    };
    SocketAddr::new(ip, a.port())
}

/// Encode one datagram as an Ethernet frame with IPv4 or IPv6 and UDP headers (UDP
/// checksum 0; IPv4 header checksum computed).
pub fn frame(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let src = concrete(src, dst);
    let dst = concrete(dst, src);
    let mut f = Vec::with_capacity(14 + 40 + 8 + payload.len());
    f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1]);
    let udp_len = (8 + payload.len()) as u16;
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
            h[6] = 0x40;
            h[8] = 64;
            h[9] = 17;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let sum = h.chunks(2).fold(0u32, |acc, c| {
                acc + u32::from(u16::from_be_bytes([c[0], c[1]]))
            });
            let sum = (sum & 0xffff) + (sum >> 16);
            let sum = (sum & 0xffff) + (sum >> 16);
            h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            f.extend_from_slice(&h);
        }
        (s, d) => {
            let to6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let mut h = [0u8; 40];
            h[0] = 0x60;
            h[4..6].copy_from_slice(&udp_len.to_be_bytes());
            h[6] = 17;
            h[7] = 64;
            h[8..24].copy_from_slice(&to6(s).octets());
            h[24..40].copy_from_slice(&to6(d).octets());
            f.extend_from_slice(&h);
        }
    }
    f.extend_from_slice(&src.port().to_be_bytes());
    f.extend_from_slice(&dst.port().to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A classic pcap writer (microsecond timestamps, Ethernet link type).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Write the global header.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(Self { out })
    }

    /// Write one UDP datagram as a record.
    pub fn write(
        &mut self,
        time: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let f = frame(src, dst, payload);
        self.out.write_all(&(time.as_secs() as u32).to_le_bytes())?;
        self.out.write_all(&time.subsec_micros().to_le_bytes())?;
        self.out.write_all(&(f.len() as u32).to_le_bytes())?;
        self.out.write_all(&(f.len() as u32).to_le_bytes())?;
        self.out.write_all(&f)
    }

    /// Flush and return the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Drain `rx` into a pcap file (the `--record` writer thread).
pub(crate) fn write_records(file: File, rx: Receiver<Record>) -> std::io::Result<()> {
    let mut w = PcapWriter::new(BufWriter::new(file))?;
    for r in rx {
        let t = r.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        w.write(t, r.src, r.dst, &r.data)?;
    }
    w.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_reads_back() {
        let dir = std::env::temp_dir().join(format!("hr-pcap-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("t.pcap");
        let a: SocketAddr = "0.0.0.0:40000".parse().unwrap_or_else(|_| unreachable!());
        let b: SocketAddr = "127.0.0.1:1812".parse().unwrap_or_else(|_| unreachable!());
        let c: SocketAddr = "[::1]:1813".parse().unwrap_or_else(|_| unreachable!());
        let d: SocketAddr = "[::1]:5000".parse().unwrap_or_else(|_| unreachable!());
        {
            let f = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
            let mut w = PcapWriter::new(f).unwrap_or_else(|e| panic!("{e}"));
            w.write(Duration::from_millis(1500), a, b, b"hello")
                .unwrap_or_else(|e| panic!("{e}"));
            w.write(Duration::from_millis(1600), d, c, b"v6")
                .unwrap_or_else(|e| panic!("{e}"));
            w.write(
                Duration::from_millis(1700),
                d,
                "[::1]:9".parse().unwrap_or(d),
                b"other",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            w.finish().unwrap_or_else(|e| panic!("{e}"));
        }
        let got = read_udp(&path, &[1812, 1813]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, b"hello");
        assert_eq!(got[0].src, "127.0.0.1:40000".parse().unwrap_or(a));
        assert_eq!(got[0].dst, b);
        assert_eq!(got[0].time, Duration::from_millis(1500));
        assert_eq!(got[1].data, b"v6");
        assert_eq!(got[1].dst, c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
