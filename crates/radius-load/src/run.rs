//! Running a load: one engine worker thread per generator, the live progress line, Ctrl-C,
//! optional `--record`ing, and the merged [`Report`]. Shared by `bench` and `replay`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use radius_proto::protocol::Signer;

use crate::engine::{self, Generator, Pacing, Shared, WorkerConfig};
use crate::error::LoadError;
use crate::pcap;
use crate::report::{Expect, Report};

/// Number of CPU cores.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Settings common to bench and replay runs.
pub(crate) struct EngineRun {
    pub(crate) signer: Signer,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) duration: Option<Duration>,
    pub(crate) requests: Option<u64>,
    pub(crate) record: Option<PathBuf>,
    pub(crate) expect: Option<Expect>,
    /// Index of the only destination used, when there is one.
    pub(crate) single_dest: Option<usize>,
    /// At the end, close the sessions the run left open (bench `acct`/`hotspot`).
    pub(crate) close_sessions: bool,
    /// IPv4 source addresses to spread the requests over (bench `--source-addrs`).
    pub(crate) sources: Vec<std::net::Ipv4Addr>,
    /// The run's parameters as (name, value), for the `--report` file.
    pub(crate) params: Vec<(String, String)>,
}

/// How long the end-of-run Stops that close the sessions left open may take, at most.
pub(crate) const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Run one engine worker per generator, with the progress line, Ctrl-C handling and
/// optional recording; merge the results into a report.
pub(crate) async fn run_engine(
    tool: &'static str,
    mode: String,
    dests: Vec<SocketAddr>,
    run: EngineRun,
    gens: Vec<Box<dyn Generator>>,
    pacing: impl Fn(usize) -> Pacing,
) -> Result<Report, LoadError> {
    let shared = Arc::new(Shared {
        budget: AtomicI64::new(
            run.requests
                .map_or(i64::MAX, |r| i64::try_from(r).unwrap_or(i64::MAX)),
        ),
        stop: AtomicBool::new(false),
        live: (0..gens.len()).map(|_| engine::Live::default()).collect(),
    });
    let (record_tx, recorder) = match &run.record {
        Some(path) => {
            let (tx, rx) = std::sync::mpsc::sync_channel::<engine::Record>(1 << 16);
            let file = std::fs::File::create(path)
                .map_err(LoadError::io(format!("creating {}", path.display())))?;
            let handle = std::thread::spawn(move || pcap::write_records(file, rx));
            (Some(tx), Some(handle))
        }
        None => (None, None),
    };
    let started = Instant::now();
    let deadline = run.duration.map(|d| started + d);
    let mut handles = Vec::new();
    let sources: Arc<[std::net::Ipv4Addr]> = run.sources.clone().into();
    for (i, generator) in gens.into_iter().enumerate() {
        let cfg = WorkerConfig {
            index: i,
            dests: dests.clone(),
            signer: run.signer.clone(),
            timeout: run.timeout,
            retries: run.retries,
            deadline,
            pacing: pacing(i),
            single_dest: run.single_dest,
            sources: sources.clone(),
            shared: shared.clone(),
            record: record_tx.clone(),
            started,
            close_within: run.close_sessions.then_some(CLOSE_WITHIN),
        };
        handles.push(
            std::thread::Builder::new()
                .name(format!("{tool}-{i}"))
                .spawn(move || engine::run_worker(cfg, generator))
                .map_err(LoadError::io("spawning a worker thread"))?,
        );
    }
    drop(record_tx);
    let progress = spawn_progress(shared.clone());
    let stopper = {
        let shared = shared.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shared.stop.store(true, Ordering::Relaxed);
            }
        })
    };
    let joined = tokio::task::spawn_blocking(move || {
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| LoadError::Panicked("a worker"))?
                    .map_err(LoadError::io("running a worker"))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| LoadError::Panicked("the worker-joining"))?;
    let joined_at = Instant::now();
    shared.stop.store(true, Ordering::Relaxed);
    stopper.abort();
    progress.abort();
    let results = joined?;
    // Up to the last worker's end of the measured run: the closing Stops that follow are
    // not part of it.
    let elapsed = results
        .iter()
        .map(|r| r.ended)
        .max()
        .unwrap_or(joined_at)
        .saturating_duration_since(started);
    if let Some(r) = recorder {
        r.join()
            .map_err(|_| LoadError::Panicked("the pcap writer"))?
            .map_err(LoadError::io("writing the --record file"))?;
    }
    let (counts, hist, timeline) = engine::merge(results, started);
    let target = dests.first().map(ToString::to_string).unwrap_or_default();
    Ok(
        Report::new(tool, mode, target, elapsed, counts, &hist, run.expect)
            .with_details(timeline, run.params),
    )
}

/// The live progress line: rate, outstanding, errors; hidden when stderr is not a terminal.
/// Returns a handle that stops it.
fn spawn_progress(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let mut last = 0u64;
        let mut last_t = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let (mut sent, mut replies, mut errors, mut outstanding) = (0, 0, 0, 0);
            for l in &shared.live {
                sent += l.sent.load(Ordering::Relaxed);
                replies += l.replies.load(Ordering::Relaxed);
                errors += l.errors.load(Ordering::Relaxed);
                outstanding += l.outstanding.load(Ordering::Relaxed);
            }
            let now = Instant::now();
            let rate =
                (replies - last.min(replies)) as f64 / now.duration_since(last_t).as_secs_f64();
            last = replies;
            last_t = now;
            bar.set_message(format!(
                "{rate:>9.0} req/s  sent {sent}  replies {replies}  outstanding {outstanding}  errors {errors}"
            ));
            bar.tick();
            if shared.stop.load(Ordering::Relaxed) && outstanding == 0 {
                bar.finish_and_clear();
                return;
            }
        }
    })
}
