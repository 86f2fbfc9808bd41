//! How many controller connections the SDK holds: every `darkscrape dial` process keeps at
//! most one HTTPS connection to the controller over its whole life (login, service list,
//! session creation and the keeper's polls share it), and 500 echo sessions from 500
//! Contexts opened at once all succeed on the lab.

use std::process::Stdio;
use std::time::{Duration, Instant};

use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::{BindOptions, ServiceListener};
use testbed::lab::{group_config, ServiceGroup, TestLab};
use testbed::process::tcp_connections_to;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const SERVICE: &str = "ctrl-conns.echo";
const HOST: &str = "ctrl-conns.host";
const CLIENTS: [&str; 5] = [
    "ctrl-conns.client-0",
    "ctrl-conns.client-1",
    "ctrl-conns.client-2",
    "ctrl-conns.client-3",
    "ctrl-conns.client-4",
];

async fn start_lab() -> TestLab {
    let mut identities = vec![(HOST, "ctrl-conns-hosts")];
    identities.extend(CLIENTS.iter().map(|name| (*name, "ctrl-conns-clients")));
    TestLab::start_with(group_config(&ServiceGroup {
        service_role: "ctrl-conns",
        services: &[(SERVICE, false)],
        identities: &identities,
        binders: "ctrl-conns-hosts",
        dialers: "ctrl-conns-clients",
    }))
    .await
}

/// Binds the echo service and serves every accepted stream line by line until it closes.
async fn host_echo(lab: &TestLab) -> Context {
    let host = lab.context(HOST).await;
    let listener = host
        .bind(SERVICE, BindOptions::default())
        .await
        .expect("bind");
    tokio::spawn(echo_forever(listener));
    let probe = lab.context(CLIENTS[0]).await;
    for attempt in 0..150 {
        match probe.dial(SERVICE, DialOptions::default()).await {
            Ok(_) => break,
            Err(error) if attempt == 149 => panic!("{SERVICE} never became dialable: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    probe.shutdown(Duration::from_secs(2)).await;
    host
}

async fn echo_forever(mut listener: ServiceListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let (read, mut write) = tokio::io::split(stream);
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if write
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_open_dial_process_holds_at_most_one_controller_connection() {
    const DIALS: usize = 12;
    let lab = start_lab().await;
    let _host = host_echo(&lab).await;
    let controller_port = lab
        .running
        .as_ref()
        .expect("lab running")
        .controller_addr()
        .port();
    let identity = lab.identity_file(CLIENTS[1]);

    let mut children = Vec::new();
    for _ in 0..DIALS {
        children.push(
            tokio::process::Command::new(env!("CARGO_BIN_EXE_darkscrape"))
                .args(["dial", "--identity"])
                .arg(&identity)
                .args(["--service", SERVICE, "--timeout", "20"])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("darkscrape dial starts"),
        );
    }
    let pids: Vec<u32> = children.iter().map(|c| c.id().expect("pid")).collect();
    let mut most = vec![0usize; DIALS];
    let sample = |most: &mut Vec<usize>| {
        for (seen, pid) in most.iter_mut().zip(&pids) {
            *seen = (*seen).max(tcp_connections_to(*pid, controller_port));
        }
    };

    // Each dialer sends a line and waits for its echo, while its controller connections are
    // sampled from the moment it started (login, service list and session creation).
    let mut echoes = tokio::task::JoinSet::new();
    for (i, child) in children.iter_mut().enumerate() {
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        echoes.spawn(async move {
            stdin
                .write_all(format!("line {i}\n").as_bytes())
                .await
                .expect("write to dial");
            let mut lines = BufReader::new(stdout).lines();
            let echoed = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("echo within 30 s")
                .expect("read")
                .expect("a line");
            assert_eq!(echoed, format!("line {i}"));
            (stdin, lines)
        });
    }
    let mut open = Vec::new();
    while !echoes.is_empty() {
        sample(&mut most);
        if let Ok(Some(done)) =
            tokio::time::timeout(Duration::from_millis(20), echoes.join_next()).await
        {
            open.push(done.expect("echo task"));
        }
    }
    // Keep the streams open a little longer: the keeper's work after login shows here.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        sample(&mut most);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        most.iter().all(|n| *n <= 1),
        "controller connections held per dial process (most seen): {most:?}"
    );
    assert!(
        most.contains(&1),
        "no dial process was ever seen holding a controller connection ({most:?}): the \
         sampling is broken"
    );
    drop(open);
    for mut child in children {
        let _ = child.kill().await;
    }
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_echo_sessions_from_five_hundred_contexts_all_succeed() {
    const CONTEXTS_PER_IDENTITY: usize = 100;
    let lab = std::sync::Arc::new(start_lab().await);
    let _host = host_echo(&lab).await;
    let sessions = CLIENTS.len() * CONTEXTS_PER_IDENTITY;
    // Every session stays open until all have echoed, so all 500 are open at once.
    let all_echoed = std::sync::Arc::new(tokio::sync::Barrier::new(sessions));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, identity) in CLIENTS
        .iter()
        .flat_map(|name| std::iter::repeat_n(*name, CONTEXTS_PER_IDENTITY))
        .enumerate()
    {
        let identity_file = lab.identity_file(identity);
        let all_echoed = all_echoed.clone();
        tasks.spawn(async move {
            let outcome = async {
                let identity = dark_listener::identity::Identity::from_file(&identity_file)
                    .map_err(|e| format!("identity: {e}"))?;
                let context = Context::with_options(identity, Default::default())
                    .map_err(|e| format!("context: {e}"))?;
                context
                    .wait_authenticated(Duration::from_secs(60))
                    .await
                    .map_err(|e| format!("login: {e}"))?;
                let stream = context
                    .dial(SERVICE, DialOptions::default())
                    .await
                    .map_err(|e| format!("dial: {e}"))?;
                let (read, mut write) = tokio::io::split(stream);
                write
                    .write_all(format!("session {n}\n").as_bytes())
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                let mut lines = BufReader::new(read).lines();
                let echoed = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                    .await
                    .map_err(|_| "no echo within 60 s".to_string())?
                    .map_err(|e| format!("read: {e}"))?
                    .ok_or_else(|| "closed before the echo".to_string())?;
                if echoed != format!("session {n}") {
                    return Err(format!("echo {echoed:?}"));
                }
                Ok::<_, String>((context, write, lines))
            }
            .await;
            // Wait for the others even after a failure, so the barrier always fills.
            tokio::time::timeout(Duration::from_secs(120), all_echoed.wait())
                .await
                .ok();
            match outcome {
                Ok((context, write, lines)) => {
                    drop((write, lines));
                    context.shutdown(Duration::from_secs(2)).await;
                    Ok(())
                }
                Err(e) => Err(format!("session {n}: {e}")),
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.expect("session task") {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {sessions} echo sessions failed; first ones: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    drop(_host);
    if let Ok(lab) = std::sync::Arc::try_unwrap(lab) {
        lab.stop().await;
    }
}
