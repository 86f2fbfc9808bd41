//! CPU time per scrape and peak RSS: node_exporter 1.5.0 against this crate, in one run.
//!
//! ```text
//! crates/node-exporter/scripts/bench.sh [--scrapes N] [--rounds R]
//! ```
//!
//! builds the binaries it measures (see that script) and runs
//! `cargo run --release -p node-exporter --example bench_vs_node_exporter -- [--scrapes N]
//! [--rounds R] [--no-overlay] [--overlay-binary PATH]...`.
//!
//! Servers with the same 26 collectors and filter flags, each measured alone:
//!
//! 1. node_exporter 1.5.0 serving `GET /metrics` over HTTP/1.1 on 127.0.0.1, with
//!    `--web.disable-exporter-metrics` (no Go runtime metrics, so it does only host work).
//! 2. Exporter-only, loopback: this example re-started with `--serve-ours <port>`: a tokio
//!    current-thread runtime, hyper's HTTP/1 server, `NodeExporter::scrape` and the 0.0.4
//!    writer, on 127.0.0.1 (that mode exists only for this benchmark). Same transport as
//!    node_exporter, so it compares the exporters alone.
//! 3. What a user runs, served dark: `target/release/darkscrape` and the exporter-only
//!    binary `darkscrape-node-exporter` built with the `dist-small` profile, dynamically
//!    and statically linked (or each `--overlay-binary` given instead), run as
//!    `[darkscrape] node-exporter --identity … --service … --bind-using-identity
//!    --web.disable-exporter-metrics`, hosting a service of an in-process lab overlay
//!    (controller and router in this process, on loopback), scraped over the overlay with a
//!    fresh overlay connection per scrape (TLS channel to the router, edge framing,
//!    dark-metrics serving). Only the exporter process is measured. `--no-overlay` skips
//!    these rows.
//!
//! All servers run at once. The client asks for no compression, warms each server up with 10
//! scrapes, then does N sequential scrapes of each, split into R rounds (`--rounds`, default
//! 5) that visit the servers in a rotated order, so a change in the machine's speed during the
//! run (a shared VM) falls on all of them alike; the per-round CPU ratios are printed too.
//! CPU = utime + stime of the server process from `/proc/<pid>/stat` over those N scrapes;
//! peak RSS = `VmHWM` from `/proc/<pid>/status` at the end, split into `RssAnon` and
//! `RssFile` (file-backed: program text and shared libraries, which the kernel maps in
//! 64 KiB fault-around blocks, so it follows where the code that runs lies in the binary). With `DARKSCRAPE_BENCH_SMAPS=<dir>` each server's
//! `/proc/<pid>/smaps` is copied to that directory after its scrapes, to see which mappings
//! the memory is in.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use node_exporter::collectors::{DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE};
use node_exporter::COLLECTORS;

/// Flags given to both exporters.
fn shared_flags() -> Vec<String> {
    let mut flags = vec![
        "--collector.disable-defaults".to_string(),
        format!("--collector.filesystem.mount-points-exclude={DEFAULT_MOUNT_POINTS_EXCLUDE}"),
        format!("--collector.filesystem.fs-types-exclude={DEFAULT_FS_TYPES_EXCLUDE}"),
        "--collector.netdev.device-exclude=".to_string(),
    ];
    flags.extend(COLLECTORS.iter().map(|c| format!("--collector.{}", c.name)));
    flags
}

/// Kills and reaps a server when dropped.
struct Server {
    child: Child,
    port: u16,
    name: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One scrape over a fresh loopback connection; returns the body length.
fn scrape(port: u16) -> std::io::Result<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::with_capacity(128 * 1024);
    s.take(64 * 1024 * 1024).read_to_end(&mut raw)?;
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    if !raw.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&raw[..head_end]).into_owned(),
        ));
    }
    Ok(raw.len() - head_end - 4)
}

fn wait_ready(server: &Server) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if scrape(server.port).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{} did not answer on 127.0.0.1:{} within 15 s",
        server.name, server.port
    ))
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').ok_or("bad /proc/pid/stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or("bad /proc/pid/stat field")
    };
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// A `kB` line of `/proc/<pid>/status`, in bytes.
fn status_kb(pid: u32, key: &str) -> Result<f64, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb * 1024.0)
        .ok_or_else(|| format!("{key} missing"))
}

/// One server under test: a process to measure and a way to scrape it once.
struct Subject<'a> {
    name: String,
    pid: u32,
    scrape_once: Box<dyn FnMut() -> Result<usize, String> + 'a>,
    /// CPU seconds and wall seconds spent in each round, and the scrapes of each round.
    rounds: Vec<(f64, f64, usize)>,
    bytes: usize,
}

impl<'a> Subject<'a> {
    fn new(
        name: String,
        pid: u32,
        scrape_once: impl FnMut() -> Result<usize, String> + 'a,
    ) -> Self {
        Subject {
            name,
            pid,
            scrape_once: Box::new(scrape_once),
            rounds: Vec::new(),
            bytes: 0,
        }
    }

    fn scrapes(&mut self, n: usize) -> Result<(), String> {
        for _ in 0..n {
            self.bytes = (self.scrape_once)().map_err(|e| format!("{}: {e}", self.name))?;
        }
        Ok(())
    }

    /// Times `n` sequential scrapes as one round.
    fn round(&mut self, n: usize) -> Result<(), String> {
        let cpu0 = cpu_seconds(self.pid)?;
        let t0 = Instant::now();
        self.scrapes(n)?;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds(self.pid)? - cpu0;
        self.rounds.push((cpu, wall, n));
        Ok(())
    }

    /// Seconds per scrape over all rounds of what `pick` takes from a round.
    fn per_scrape(&self, pick: impl Fn(&(f64, f64, usize)) -> f64) -> f64 {
        let (sum, n) = self
            .rounds
            .iter()
            .fold((0.0, 0), |(sum, n), r| (sum + pick(r), n + r.2));
        sum / n.max(1) as f64
    }

    fn cpu_per_scrape(&self) -> f64 {
        self.per_scrape(|r| r.0)
    }

    fn wall_per_scrape(&self) -> f64 {
        self.per_scrape(|r| r.1)
    }
}

/// Memory of a subject after its scrapes.
struct Memory {
    hwm: f64,
    anon: f64,
    file: f64,
}

fn memory(subject: &Subject) -> Result<Memory, String> {
    keep_smaps(subject.pid, &subject.name)?;
    Ok(Memory {
        hwm: status_kb(subject.pid, "VmHWM:")?,
        anon: status_kb(subject.pid, "RssAnon:")?,
        file: status_kb(subject.pid, "RssFile:")?,
    })
}

/// Warms every subject up with 10 scrapes, then runs `rounds` rounds of `scrapes / rounds`
/// scrapes each, visiting the subjects in a rotated order each round, so a change in the
/// machine's speed during the run (other tenants of a shared VM) touches all of them alike.
fn measure_all(subjects: &mut [Subject], scrapes: usize, rounds: usize) -> Result<(), String> {
    for subject in subjects.iter_mut() {
        subject.scrapes(10)?;
    }
    let per_round = scrapes.div_ceil(rounds).max(1);
    for round in 0..rounds {
        let k = subjects.len();
        for i in 0..k {
            subjects[(i + round) % k].round(per_round)?;
        }
    }
    Ok(())
}

/// With `DARKSCRAPE_BENCH_SMAPS=<dir>`, copies `/proc/<pid>/smaps` of each measured server
/// to `<dir>/<what>.smaps` (which mappings the resident memory is in).
fn keep_smaps(pid: u32, what: &str) -> Result<(), String> {
    let Some(dir) = std::env::var_os("DARKSCRAPE_BENCH_SMAPS") else {
        return Ok(());
    };
    let name: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let to = PathBuf::from(dir).join(format!("{name}.smaps"));
    std::fs::copy(format!("/proc/{pid}/smaps"), &to)
        .map(|_| ())
        .map_err(|e| format!("copy smaps to {}: {e}", to.display()))
}

/// Median of a non-empty list.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn bench(scrapes: usize, rounds: usize, overlay: Option<Vec<PathBuf>>) -> Result<(), String> {
    let ne_path = std::env::var_os("DARKSCRAPE_NODE_EXPORTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-node-exporter"));
    if !ne_path.exists() {
        return Err(format!(
            "{} not found; run scripts/install-test-deps.sh",
            ne_path.display()
        ));
    }
    let flags = shared_flags();
    let ne_port = free_port().map_err(|e| e.to_string())?;
    let ne = Server {
        child: Command::new(&ne_path)
            .arg(format!("--web.listen-address=127.0.0.1:{ne_port}"))
            .arg("--web.disable-exporter-metrics")
            .args(&flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start node_exporter: {e}"))?,
        port: ne_port,
        name: "node_exporter",
    };
    let our_port = free_port().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let ours = Server {
        child: Command::new(exe)
            .arg("--serve-ours")
            .arg(our_port.to_string())
            .args(&flags)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("start our server: {e}"))?,
        port: our_port,
        name: "exporter-only, loopback",
    };
    wait_ready(&ne)?;
    wait_ready(&ours)?;
    let binaries = match overlay {
        Some(given) if given.is_empty() => overlay::default_binaries()?,
        Some(given) => given,
        None => Vec::new(),
    };
    let mut hosted = Vec::with_capacity(binaries.len());
    for binary in &binaries {
        hosted.push((
            overlay::row_name(binary),
            overlay::Hosted::start(binary, &flags)?,
        ));
    }
    let mut subjects = vec![
        Subject::new(
            "node_exporter 1.5.0, loopback HTTP".to_string(),
            ne.child.id(),
            || scrape(ne_port).map_err(|e| e.to_string()),
        ),
        Subject::new(
            "exporter-only example, loopback HTTP".to_string(),
            ours.child.id(),
            || scrape(our_port).map_err(|e| e.to_string()),
        ),
    ];
    for (name, h) in &hosted {
        subjects.push(Subject::new(name.clone(), h.pid(), || h.scrape_once()));
    }
    measure_all(&mut subjects, scrapes, rounds)?;
    let memories = subjects.iter().map(memory).collect::<Result<Vec<_>, _>>()?;
    println!(
        "{} sequential scrapes each in {rounds} interleaved rounds, 26 collectors, no compression\n",
        subjects[0].rounds.iter().map(|r| r.2).sum::<usize>()
    );
    println!(
        "{:<68} {:>13} {:>14} {:>10} {:>12} {:>12} {:>9}",
        "exporter",
        "CPU/scrape ms",
        "wall/scrape ms",
        "VmHWM MiB",
        "RssAnon MiB",
        "RssFile MiB",
        "body KiB"
    );
    for (s, m) in subjects.iter().zip(&memories) {
        println!(
            "{:<68} {:>13.3} {:>14.3} {:>10.2} {:>12.2} {:>12.2} {:>9.1}",
            s.name,
            s.cpu_per_scrape() * 1e3,
            s.wall_per_scrape() * 1e3,
            m.hwm / 1048576.0,
            m.anon / 1048576.0,
            m.file / 1048576.0,
            s.bytes as f64 / 1024.0
        );
    }
    println!("\nCPU ms per scrape in each round (in round order):");
    for s in &subjects {
        let per: Vec<String> = s
            .rounds
            .iter()
            .map(|r| format!("{:.3}", r.0 / r.2 as f64 * 1e3))
            .collect();
        println!("  {:<66} {}", s.name, per.join(" "));
    }
    println!();
    let (theirs, theirs_mem) = (&subjects[0], &memories[0]);
    for (s, m) in subjects.iter().zip(&memories).skip(1) {
        let cpu_ratio = s.cpu_per_scrape() / theirs.cpu_per_scrape();
        let per_round: Vec<f64> = s
            .rounds
            .iter()
            .zip(&theirs.rounds)
            .map(|(a, b)| (a.0 / a.2 as f64) / (b.0 / b.2 as f64))
            .collect();
        let (lo, hi) = per_round
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
        let rss_ratio = m.hwm / theirs_mem.hwm;
        println!(
            "{} / node_exporter: CPU per scrape {cpu_ratio:.3} (target <= 0.333, {}; rounds: \
             median {:.3}, {lo:.3}..{hi:.3}), peak RSS {rss_ratio:.3} (target <= 0.25, {}); \
             anonymous {:.3}, file-backed {:.3}",
            s.name,
            if cpu_ratio <= 1.0 / 3.0 {
                "met"
            } else {
                "MISSED"
            },
            median(per_round.clone()),
            if rss_ratio <= 0.25 { "met" } else { "MISSED" },
            m.anon / theirs_mem.anon,
            m.file / theirs_mem.file,
        );
    }
    drop(subjects);
    drop(hosted);
    drop(ours);
    drop(ne);
    Ok(())
}

/// Our side: serve `GET /metrics` on 127.0.0.1:<port> until killed.
fn serve_ours(port: u16, flags: Vec<String>) -> Result<(), String> {
    use clap::Parser;
    use http_body_util::Full;
    use hyper::body::Bytes;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: node_exporter::ExporterArgs,
    }
    let cli = Cli::try_parse_from(std::iter::once("serve".to_string()).chain(flags))
        .map_err(|e| e.to_string())?;
    let exporter = Arc::new(cli.args.build().map_err(|e| e.to_string())?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let exporter = Arc::clone(&exporter);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |_req: hyper::Request<hyper::body::Incoming>| {
                        let exporter = Arc::clone(&exporter);
                        async move {
                            let families = exporter.scrape().await;
                            let body = node_exporter::render_text(&families);
                            hyper::Response::builder()
                                .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                                .body(Full::new(Bytes::from(body)))
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    })
}

const USAGE: &str = "usage: bench_vs_node_exporter [--scrapes N] [--rounds R] [--no-overlay] \
     [--overlay-binary PATH]...";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--serve-ours") {
        match args.get(1).and_then(|p| p.parse::<u16>().ok()) {
            Some(port) => serve_ours(port, args[2..].to_vec()),
            None => Err("--serve-ours needs a port".to_string()),
        }
    } else {
        let mut scrapes = 300;
        let mut rounds = 5;
        let mut overlay = Some(Vec::new());
        let mut parsed = Ok(());
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--scrapes" => match rest.next().and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n > 0 => scrapes = n,
                    _ => parsed = Err("--scrapes needs a positive number".to_string()),
                },
                "--rounds" => match rest.next().and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n > 0 => rounds = n,
                    _ => parsed = Err("--rounds needs a positive number".to_string()),
                },
                "--no-overlay" => overlay = None,
                "--overlay-binary" => match (rest.next(), overlay.as_mut()) {
                    (Some(path), Some(list)) => list.push(PathBuf::from(path)),
                    (None, _) => parsed = Err("--overlay-binary needs a path".to_string()),
                    (Some(_), None) => {
                        parsed = Err("--overlay-binary and --no-overlay conflict".to_string())
                    }
                },
                other => parsed = Err(format!("unknown argument {other:?}; {USAGE}")),
            }
        }
        parsed.and_then(|()| bench(scrapes, rounds, overlay))
    };
    if let Err(e) = result {
        eprintln!("bench_vs_node_exporter: {e}");
        std::process::exit(1);
    }
}

/// Our exporter as a user runs it: a release binary (`darkscrape node-exporter --identity …
/// --service …` or `darkscrape-node-exporter --identity … --service …`) hosting a service of an in-process lab overlay
/// (controller and edge router on loopback, in this process), scraped by a dialer in this
/// process with a fresh overlay connection per scrape. Only the exporter process is
/// measured; the lab's and the client's work is this process's.
mod overlay {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use dark_listener::context::{Context, DialOptions};
    use dark_metrics::scrape::{scrape, ScrapeRequest};
    use testbed::lab::{group_config, ServiceGroup};
    use ziti_lab::{Lab, LabConfig, RunningLab};

    const SERVICE: &str = "node.metrics.svc";
    const HOST: &str = "node-host";
    const SCRAPER: &str = "prometheus";

    /// The binaries measured by default, in `target/` (this example lives in
    /// `target/<profile>/examples/`): `release/darkscrape` and the exporter-only binary as
    /// `crates/node-exporter/scripts/bench.sh` builds it, with the `dist-small` profile,
    /// dynamically and statically linked.
    pub(super) fn default_binaries() -> Result<Vec<PathBuf>, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let target = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .ok_or("cannot locate the target directory")?;
        let binaries = vec![
            target.join("release/darkscrape"),
            target.join("dist-small/darkscrape-node-exporter"),
            target.join("x86_64-unknown-linux-gnu/dist-small/darkscrape-node-exporter"),
        ];
        for path in &binaries {
            if !path.exists() {
                return Err(format!(
                    "{} is not built: run crates/node-exporter/scripts/bench.sh, which builds \
                     the binaries and runs this benchmark (or pass --no-overlay or \
                     --overlay-binary PATH)",
                    path.display()
                ));
            }
        }
        Ok(binaries)
    }

    /// `darkscrape` runs the exporter as a subcommand; any other binary is the exporter.
    fn is_darkscrape(binary: &Path) -> bool {
        binary.file_name().is_some_and(|name| name == "darkscrape")
    }

    /// The table row of `binary`: its command and the directory it was built in (below
    /// `target/` when it is there).
    pub(super) fn row_name(binary: &Path) -> String {
        let command = if is_darkscrape(binary) {
            "darkscrape node-exporter".to_string()
        } else {
            binary
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        let dir = binary.parent().unwrap_or(binary).to_string_lossy();
        let built = dir
            .rsplit_once("/target/")
            .map_or(&*dir, |(_, below)| below);
        format!("{command} ({built}), overlay")
    }

    /// The overlay fixture: shared with the tests through `testbed`'s service group.
    fn config() -> LabConfig {
        group_config(&ServiceGroup {
            service_role: "node-metrics",
            services: &[(SERVICE, false)],
            identities: &[(HOST, "node-hosts"), (SCRAPER, "scrapers")],
            binders: "node-hosts",
            dialers: "scrapers",
        })
    }

    /// Kills and reaps the child when dropped.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A binary serving the exporter dark on its own lab overlay, with a dialer ready.
    pub(super) struct Hosted {
        // Field order is drop order: the child first, then the dialer, the lab, the runtime.
        child: Reaped,
        ctx: Context,
        options: DialOptions,
        request: ScrapeRequest,
        running: Option<RunningLab>,
        rt: tokio::runtime::Runtime,
        _dir: tempfile::TempDir,
    }

    impl Hosted {
        /// Starts a lab, `binary` hosting the service with the shared collector `flags`,
        /// and a dialer; returns once one scrape over the overlay succeeded.
        pub(super) fn start(binary: &Path, flags: &[String]) -> Result<Hosted, String> {
            if !binary.exists() {
                return Err(format!("{} does not exist", binary.display()));
            }
            let subcommand: &[&str] = if is_darkscrape(binary) {
                &["node-exporter"]
            } else {
                &[]
            };
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            // The dialer's Context is created on this runtime.
            let _entered = rt.enter();
            let lab = Lab::init_with(dir.path(), config()).map_err(|e| e.to_string())?;
            let running = rt.block_on(lab.start()).map_err(|e| e.to_string())?;
            let host_file = dir.path().join("host.json");
            let scraper_file = dir.path().join("scraper.json");
            lab.issue_identity_file(HOST, &host_file)
                .and_then(|_| lab.issue_identity_file(SCRAPER, &scraper_file))
                .map_err(|e| e.to_string())?;
            let child = Reaped(
                Command::new(binary)
                    .args(subcommand)
                    .arg("--identity")
                    .arg(&host_file)
                    .args(["--service", SERVICE, "--bind-using-identity"])
                    .arg("--web.disable-exporter-metrics")
                    .args(flags)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("start {}: {e}", binary.display()))?,
            );
            let ctx = Context::from_identity_file(&scraper_file).map_err(|e| e.to_string())?;
            rt.block_on(ctx.wait_authenticated(Duration::from_secs(20)))
                .map_err(|e| e.to_string())?;
            let options = DialOptions {
                terminator_identity: Some(HOST.to_string()),
                ..DialOptions::default()
            };
            let mut request = ScrapeRequest::new(SERVICE, "/metrics");
            request.accept = "text/plain;version=0.0.4".to_string();
            drop(_entered);
            let hosted = Hosted {
                child,
                ctx,
                options,
                request,
                running: Some(running),
                rt,
                _dir: dir,
            };
            let waiting = Instant::now();
            while let Err(error) = hosted.scrape_once() {
                if waiting.elapsed() > Duration::from_secs(20) {
                    return Err(format!(
                        "{} not reachable within 20 s: {error}",
                        binary.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(hosted)
        }

        /// The exporter's process id.
        pub(super) fn pid(&self) -> u32 {
            self.child.0.id()
        }

        /// One scrape over a fresh overlay connection; returns the body length.
        pub(super) fn scrape_once(&self) -> Result<usize, String> {
            self.rt.block_on(async {
                let stream = self
                    .ctx
                    .dial(SERVICE, self.options.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                let response = scrape(stream, &self.request)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(response.body.len())
            })
        }
    }

    impl Drop for Hosted {
        fn drop(&mut self) {
            let _ = self.child.0.kill();
            let _ = self.child.0.wait();
            let running = self.running.take();
            self.rt.block_on(async {
                self.ctx.shutdown(Duration::from_secs(5)).await;
                if let Some(running) = running {
                    running.shutdown().await;
                }
            });
        }
    }
}
