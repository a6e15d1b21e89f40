//! `stm-adapter sandbox`: the sandbox platform on its own, for integrators and contract tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use adapter_core::calendar::CST;
use adapter_core::shipped::DataSet;
use clap::Args;

use super::data::{files, read_toml_dir};
use super::{Failure, emit};
use crate::pki::DevCa;
use crate::platform::wire::BASE_PATH;
use crate::sandbox::data::FILE_NAMES;
use crate::sandbox::{Sandbox, SandboxData, SandboxFiles, SandboxOptions, shipped};

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7090", value_name = "ADDR")]
    listen: SocketAddr,
    /// Serve HTTPS with a certificate from the development CA in --pki (created on first use).
    #[arg(long)]
    tls: bool,
    /// Where the development CA lives (ca.pem, ca-key.pem). Clients trust ca.pem.
    #[arg(long, default_value = "data/sandbox-pki", value_name = "DIR")]
    pki: PathBuf,
    /// Accept unsigned requests and check no signature. For contract testing only.
    #[arg(long)]
    insecure_no_signature: bool,
}

/// The sandbox files: `DIR/sandbox/` when the data directory has one, else the shipped ones.
pub(crate) fn sandbox_files(data: Option<&Path>) -> Result<SandboxFiles, Failure> {
    let Some(dir) = data.map(|d| d.join("sandbox")).filter(|d| d.is_dir()) else {
        return Ok(shipped());
    };
    let read = read_toml_dir(&dir)?;
    let take = |name: &str| {
        read.iter()
            .find(|(file, _)| file.ends_with(name))
            .cloned()
            .ok_or_else(|| Failure::Usage(format!("{} has no {name}", dir.display())))
    };
    let [citizens, licences, notices, halls, settings] = FILE_NAMES.map(take);
    Ok(SandboxFiles {
        citizens: citizens?,
        licences: licences?,
        notices: notices?,
        halls: halls?,
        settings: settings?,
    })
}

/// Loads the catalogue data and the sandbox data, every problem reported.
pub(crate) fn load(data: Option<&Path>) -> Result<(Arc<DataSet>, SandboxData), Failure> {
    let set = DataSet::load(&files(data)?).map_err(|p| Failure::Usage(format!("data:\n{p}")))?;
    let today = time::OffsetDateTime::now_utc().to_offset(CST).date();
    let sandbox = SandboxData::load(&sandbox_files(data)?, today)
        .map_err(|p| Failure::Usage(format!("sandbox data:\n{p}")))?;
    Ok((Arc::new(set), sandbox))
}

pub(crate) fn run(data: Option<&Path>, args: SandboxArgs) -> Result<(), Failure> {
    super::init_logging();
    let (set, sandbox_data) = load(data)?;
    let options = SandboxOptions {
        require_signature: !args.insecure_no_signature,
    };
    if args.insecure_no_signature {
        let banner = "INSECURE: --insecure-no-signature: the sandbox accepts UNSIGNED requests and \
                      checks NO signature. For contract testing only; never point a daemon at it.";
        tracing::warn!("{banner}");
        let _ = std::io::Write::write_all(
            &mut std::io::stderr().lock(),
            format!("\n*** {banner} ***\n\n").as_bytes(),
        );
    }
    let tls = if args.tls {
        let ca = DevCa::open_or_create(&args.pki).map_err(|e| Failure::Refused(e.to_string()))?;
        let ip = args.listen.ip().to_string();
        let cert = ca
            .server(&["localhost", "127.0.0.1", ip.as_str()])
            .map_err(|e| Failure::Refused(e.to_string()))?;
        let config = crate::tls::open_server_config(
            cert.certificate_pem.as_bytes(),
            cert.key_pem.as_bytes(),
        )
        .map_err(|e| Failure::Refused(e.to_string()))?;
        Some((config, args.pki.join("ca.pem")))
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Refused(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::Refused(format!("cannot listen on {}: {e}", args.listen)))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::Refused(e.to_string()))?;
        let sandbox = Sandbox::new(set, &sandbox_data, options);
        let scheme = if tls.is_some() { "https" } else { "http" };
        emit(&format!(
            "sandbox platform listening on {scheme}://{local}{BASE_PATH}"
        ))?;
        if let Some((_, ca)) = &tls {
            emit(&format!("  its certificate is issued by {}", ca.display()))?;
        }
        tracing::info!(
            %local,
            apps = sandbox_data.settings.apps.len(),
            citizens = sandbox_data.citizens.len(),
            signatures = if options.require_signature { "required" } else { "NOT CHECKED" },
            "sandbox platform started"
        );
        sandbox
            .serve(listener, tls.map(|(c, _)| c), super::shutdown_signal())
            .await
            .map_err(|e| Failure::Refused(format!("sandbox: {e}")))?;
        tracing::info!(
            requests = sandbox.requests_seen(),
            "sandbox platform stopped"
        );
        Ok(())
    })
}
