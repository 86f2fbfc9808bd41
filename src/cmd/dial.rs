//! `darkscrape dial`: connect to a service over the overlay and pipe stdin/stdout through it,
//! like `nc`.
//!
//! Standard input is copied to the connection; at end of input the write side is half-closed
//! (FIN), and the command keeps printing what the service sends until it closes its side.
//!
//! Exit status: 0 only on a clean close (the service sent FIN, or closed after this side's
//! FIN); non-zero when the dial fails, the service closes the connection while standard
//! input is still being sent, the router is lost, or reading or writing fails.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use dark_listener::context::{Context, DialOptions};
use dark_listener::stream::PeerEnd;
use tokio::io::AsyncWriteExt;

/// Arguments of `darkscrape dial`.
#[derive(Debug, Args)]
pub struct DialArgs {
    /// Identity file (JSON) to authenticate with.
    #[arg(long, short = 'i')]
    pub identity: PathBuf,
    #[command(flatten)]
    pub auth: super::AuthArgs,
    /// Service name to dial.
    #[arg(long, short = 's')]
    pub service: String,
    /// Reach the host that bound the service under this terminator identity.
    #[arg(long)]
    pub terminator_identity: Option<String>,
    /// Caller id shown to the host.
    #[arg(long)]
    pub caller_id: Option<String>,
    /// Seconds to wait for the connection to be established.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
}

/// Runs `darkscrape dial …`.
pub fn run(args: DialArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    let result = runtime.block_on(dial(args));
    // Standard input is read on a blocking thread that may still wait for input the service
    // no longer takes; do not wait for it.
    runtime.shutdown_background();
    result
}

async fn dial(args: DialArgs) -> anyhow::Result<()> {
    let ctx = Context::from_identity_file_with_auth(&args.identity, args.auth.method)
        .with_context(|| format!("cannot use identity {}", args.identity.display()))?;
    let options = DialOptions {
        terminator_identity: args.terminator_identity.clone(),
        caller_id: args.caller_id.clone(),
        timeout: Duration::from_secs(args.timeout),
        ..DialOptions::default()
    };
    let result = pipe(&ctx, &args.service, options).await;
    ctx.shutdown(Duration::from_secs(2)).await;
    result
}

async fn pipe(ctx: &Context, service: &str, options: DialOptions) -> anyhow::Result<()> {
    let stream = ctx.dial(service, options).await?;
    tracing::debug!(info = ?stream.info(), "connected");
    let peer_end = stream.peer_end_watch();
    let (mut from_service, mut to_service) = tokio::io::split(stream);
    let upload = async {
        let mut stdin = tokio::io::stdin();
        tokio::io::copy(&mut stdin, &mut to_service)
            .await
            .context("sending standard input to the service (it closed the connection?)")?;
        to_service.shutdown().await.context("sending FIN")?;
        anyhow::Ok(())
    };
    let download = async {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut from_service, &mut stdout)
            .await
            .context("receiving from the service")?;
        stdout.flush().await.context("writing standard output")?;
        anyhow::Ok(())
    };
    // The service closing its side ends the command even if stdin is still open; the end of
    // stdin only half-closes, and the reply is still read to its end.
    tokio::pin!(upload);
    tokio::pin!(download);
    let fin_sent = tokio::select! {
        done = &mut download => {
            done?;
            false
        }
        sent = &mut upload => {
            sent?;
            download.await?;
            true
        }
    };
    clean_end(service, peer_end.get(), fin_sent)
}

/// Whether the connection ended cleanly: the service sent FIN, or closed after this side
/// had sent all of standard input and its FIN (as hosts that answer and then close do).
/// A close while standard input was still being sent, or a lost router, is an error.
fn clean_end(service: &str, end: Option<PeerEnd>, fin_sent: bool) -> anyhow::Result<()> {
    match end {
        Some(PeerEnd::Fin) | None => Ok(()),
        Some(PeerEnd::Closed) if fin_sent => Ok(()),
        Some(PeerEnd::Closed) => anyhow::bail!(
            "service {service:?} closed the connection before the end of standard input (no FIN: the host stopped, refused the input, or was cut off); what it sent was printed, the rest of the input was not delivered"
        ),
        Some(PeerEnd::ChannelLost) => anyhow::bail!(
            "the connection to the edge router was lost before service {service:?} finished; check the router and retry"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fin_or_a_close_after_ours_is_clean() {
        assert!(clean_end("s", Some(PeerEnd::Fin), false).is_ok());
        assert!(clean_end("s", Some(PeerEnd::Fin), true).is_ok());
        assert!(clean_end("s", Some(PeerEnd::Closed), true).is_ok());
        let early = clean_end("s", Some(PeerEnd::Closed), false).unwrap_err();
        assert!(early
            .to_string()
            .contains("before the end of standard input"));
        assert!(clean_end("s", Some(PeerEnd::ChannelLost), true).is_err());
    }
}
