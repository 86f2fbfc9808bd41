//! `darkscrape lab`: create, run and hand out credentials of an embedded ziti-lab overlay
//! (controller and edge router, both on loopback by default).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

/// Arguments of `darkscrape lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Create a lab directory: PKI and a starter lab.toml (identities, an echo service, policies).
    Init {
        /// Directory to create the lab in (must not hold a lab.toml yet).
        dir: PathBuf,
    },
    /// Serve the lab's controller until Ctrl-C.
    Run {
        /// Lab directory created by `lab init`.
        dir: PathBuf,
        /// Seconds a peer has to complete a frame once its first bytes reached the router
        /// (default 30); a peer stalled mid-frame longer has its channel closed.
        #[arg(
            long,
            env = "DARKSCRAPE_LAB_FRAME_DEADLINE_SECS",
            value_name = "SECONDS"
        )]
        frame_deadline_secs: Option<f64>,
        /// Most router channels one identity may hold at once (default 128).
        #[arg(
            long,
            env = "DARKSCRAPE_LAB_MAX_CHANNELS_PER_IDENTITY",
            value_name = "N"
        )]
        max_channels_per_identity: Option<usize>,
    },
    /// Print a fresh one-time enrollment JWT for an identity (older unused JWTs stop working;
    /// enrolling with it replaces the identity's previously enrolled certificate).
    Jwt {
        /// Lab directory.
        dir: PathBuf,
        /// Identity name as declared in lab.toml.
        name: String,
    },
    /// Issue a certificate for an identity and write a ready-to-use identity file.
    Identity {
        /// Lab directory.
        dir: PathBuf,
        /// Identity name as declared in lab.toml.
        name: String,
        /// Where to write the identity JSON.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `darkscrape lab …`.
pub fn run(args: LabArgs) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Init { dir } => {
            let lab = ziti_lab::Lab::init(&dir)?;
            let config = lab.state().config();
            eprintln!(
                "lab created in {} (controller {}, router {}); identities: {}",
                dir.display(),
                config.controller.address,
                config.router.address,
                config
                    .identities
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        LabCommand::Run {
            dir,
            frame_deadline_secs,
            max_channels_per_identity,
        } => {
            let mut options = ziti_lab::router::RouterOptions::default();
            if let Some(secs) = frame_deadline_secs {
                options.frame_deadline = std::time::Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .with_context(|| {
                        format!("--frame-deadline-secs {secs} is not a positive number of seconds")
                    })?;
            }
            if let Some(n) = max_channels_per_identity {
                anyhow::ensure!(n > 0, "--max-channels-per-identity must be at least 1");
                options.max_channels_per_identity = n;
            }
            let lab = ziti_lab::Lab::open(&dir)?;
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
            runtime.block_on(async move {
                let running = lab.start_with(options).await?;
                tracing::info!(
                    controller = %running.controller_url(),
                    router = %running.router_addr(),
                    "lab running; Ctrl-C to stop"
                );
                tokio::signal::ctrl_c()
                    .await
                    .context("cannot wait for Ctrl-C")?;
                tracing::info!("shutting down");
                running.shutdown().await;
                Ok(())
            })
        }
        LabCommand::Jwt { dir, name } => {
            let lab = ziti_lab::Lab::open(&dir)?;
            println!("{}", lab.enrollment_jwt(&name)?);
            Ok(())
        }
        LabCommand::Identity { dir, name, out } => {
            let lab = ziti_lab::Lab::open(&dir)?;
            let identity = lab.issue_identity_file(&name, &out)?;
            eprintln!(
                "wrote identity {} ({}) to {}",
                identity.name,
                identity.id,
                out.display()
            );
            Ok(())
        }
    }
}
