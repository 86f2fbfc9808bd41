//! CPU time per scrape and peak RSS: node_exporter 1.5.0 against this crate, in one run.
//!
//! ```text
//! cargo run --release -p node-exporter --example bench_vs_node_exporter -- [--scrapes N]
//! ```
//!
//! Both exporters run as separate processes serving `GET /metrics` over HTTP/1.1 on
//! 127.0.0.1, with the same 26 collectors and filter flags. node_exporter runs with
//! `--web.disable-exporter-metrics` (no Go runtime metrics, so it does only host work).
//! Our side is this same binary re-started with `--serve-ours <port>`: a tokio
//! current-thread runtime, hyper's HTTP/1 server, `NodeExporter::scrape` and the 0.0.4
//! writer — the shape dark-metrics serving will have, minus the overlay. That mode exists
//! only for this benchmark and binds loopback only.
//!
//! The client opens a fresh connection per scrape for both, asks for no compression,
//! warms each up with 10 scrapes, then does N sequential scrapes of one exporter, then N of
//! the other. CPU = utime + stime of the server process from `/proc/<pid>/stat` over those
//! N scrapes; peak RSS = `VmHWM` from `/proc/<pid>/status` at the end.

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

struct Figures {
    cpu_per_scrape: f64,
    wall_per_scrape: f64,
    hwm: f64,
    anon: f64,
    file: f64,
    bytes: usize,
}

fn measure(server: &Server, scrapes: usize) -> Result<Figures, String> {
    for _ in 0..10 {
        scrape(server.port).map_err(|e| format!("{}: {e}", server.name))?;
    }
    let pid = server.child.id();
    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    let mut bytes = 0;
    for _ in 0..scrapes {
        bytes = scrape(server.port).map_err(|e| format!("{}: {e}", server.name))?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu0;
    Ok(Figures {
        cpu_per_scrape: cpu / scrapes as f64,
        wall_per_scrape: wall / scrapes as f64,
        hwm: status_kb(pid, "VmHWM:")?,
        anon: status_kb(pid, "RssAnon:")?,
        file: status_kb(pid, "RssFile:")?,
        bytes,
    })
}

fn bench(scrapes: usize) -> Result<(), String> {
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
        name: "darkscrape node-exporter",
    };
    wait_ready(&ne)?;
    wait_ready(&ours)?;
    let theirs = measure(&ne, scrapes)?;
    let mine = measure(&ours, scrapes)?;
    println!(
        "{scrapes} sequential scrapes each, 26 collectors, loopback HTTP/1.1, no compression\n"
    );
    println!(
        "{:<26} {:>13} {:>14} {:>10} {:>12} {:>12} {:>9}",
        "exporter",
        "CPU/scrape ms",
        "wall/scrape ms",
        "VmHWM MiB",
        "RssAnon MiB",
        "RssFile MiB",
        "body KiB"
    );
    for (name, f) in [(ne.name, &theirs), (ours.name, &mine)] {
        println!(
            "{:<26} {:>13.3} {:>14.3} {:>10.2} {:>12.2} {:>12.2} {:>9.1}",
            name,
            f.cpu_per_scrape * 1e3,
            f.wall_per_scrape * 1e3,
            f.hwm / 1048576.0,
            f.anon / 1048576.0,
            f.file / 1048576.0,
            f.bytes as f64 / 1024.0
        );
    }
    let cpu_ratio = mine.cpu_per_scrape / theirs.cpu_per_scrape;
    let rss_ratio = mine.hwm / theirs.hwm;
    println!("\nours/node_exporter: CPU per scrape {cpu_ratio:.3} (target <= 0.333), peak RSS {rss_ratio:.3} (target <= 0.25)");
    println!(
        "  of which: anonymous (private) memory {:.3}, file-backed (binary text, shared libraries) {:.3}",
        mine.anon / theirs.anon,
        mine.file / theirs.file
    );
    println!(
        "targets: CPU {}, RSS {}",
        if cpu_ratio <= 1.0 / 3.0 {
            "met"
        } else {
            "MISSED"
        },
        if rss_ratio <= 0.25 { "met" } else { "MISSED" }
    );
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--serve-ours") => match args.get(1).and_then(|p| p.parse::<u16>().ok()) {
            Some(port) => serve_ours(port, args[2..].to_vec()),
            None => Err("--serve-ours needs a port".to_string()),
        },
        Some("--scrapes") => match args.get(1).and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n > 0 => bench(n),
            _ => Err("--scrapes needs a positive number".to_string()),
        },
        None => bench(300),
        Some(other) => Err(format!(
            "unknown argument {other:?}; usage: bench_vs_node_exporter [--scrapes N]"
        )),
    };
    if let Err(e) = result {
        eprintln!("bench_vs_node_exporter: {e}");
        std::process::exit(1);
    }
}
