//! `LoadError`: why a load tool could not run, one variant per kind of cause.

use std::io;
use std::path::PathBuf;

/// Why `bench`, `replay` or `responder` could not run. Outcomes of the requests themselves
/// (timeouts, bad replies) are not errors: they are counted in the report.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An argument or an input file's contents are unusable (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// The server's host name did not resolve.
    #[error("resolving {host}: {source}")]
    Resolve {
        /// The `--server` value.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The server's host name resolved to no address.
    #[error("no address for {0}")]
    NoAddress(String),
    /// A capture file is not pcap/pcapng or is damaged.
    #[error("{}: {reason}", path.display())]
    Capture {
        /// The capture file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A system call failed (file, socket, thread).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `creating out.pcap`.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A worker or writer thread panicked (a bug).
    #[error("{0} thread panicked")]
    Panicked(&'static str),
}

impl LoadError {
    /// An `Io` error for `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
