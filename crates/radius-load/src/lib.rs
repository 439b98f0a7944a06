//! RADIUS load tools: `bench` (synthetic MikroTik-like traffic), `replay` (captured traffic,
//! re-signed for the target) and a trivial signing `responder` that measures the tools
//! themselves. `hotspot-radius bench|replay|responder` are thin wrappers over this crate.
//!
//! The flow of one run:
//! 1. [`args`]: the command line (target, pacing, reporting), parsed by clap;
//! 2. [`bench`](mod@bench) or [`replay`] builds one request generator per socket (synthetic sessions,
//!    or captured requests read by [`pcap`]);
//! 3. `run` starts one `engine` worker thread per socket (a fixed in-flight table indexed
//!    by identifier, batched system calls in `sys`, retransmission, verification of every
//!    reply, a latency histogram), plus the progress line and Ctrl-C handling;
//! 4. `report` merges the workers' counts into a [`Report`] (table or JSON), and
//!    `report_file` draws it, with the per-second samples of `timeline`, as an SVG or HTML
//!    file (`--report`, charts written by hand in `chart`).
//!
//! [`responder`] answers on its own threads with the same batched I/O.
//!
//! Every packet is written with radius-proto's attribute encoder and signed or verified
//! with its [`Signer`](radius_proto::protocol::Signer), in place and without allocating:
//! there is no second RADIUS codec here. The crate's only `unsafe` is in `sys`.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod args;
pub mod bench;
mod chart;
mod engine;
mod error;
pub mod pcap;
pub mod replay;
mod report;
mod report_file;
pub mod responder;
mod rng;
mod run;
use udp_batch as sys;
mod timeline;

pub use args::{RunArgs, TargetArgs};
pub use bench::{BenchArgs, execute_bench, run_bench};
pub use error::LoadError;
pub use replay::{CaptureSummary, ReplayArgs, execute_replay, run_replay};
pub use report::{Counts, Expect, Latency, MOSTLY_REJECTS_MIN_REPLIES, Report};
pub use report_file::ReportFormat;
pub use responder::{ResponderArgs, run_responder};
