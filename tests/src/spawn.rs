//! A daemon in its own process: `stm-adapter serve` in a temporary directory on the embedded
//! defaults, every listener on a free loopback port — what `load` measures when no target is
//! given, so the daemon's memory is its own and not the load generator's.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, anyhow, bail};

use crate::target::Target;

/// A running `stm-adapter serve`, killed when dropped.
#[derive(Debug)]
pub struct SpawnedDaemon {
    child: Child,
    dir: tempfile::TempDir,
    pub tsp: SocketAddr,
    pub switch: SocketAddr,
    pub admin: SocketAddr,
}

impl Drop for SpawnedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `stm-adapter` binary: $STM_ADAPTER_BIN, or beside this executable.
pub fn daemon_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("STM_ADAPTER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()?;
    let dir = me.parent().context("this executable has no directory")?;
    // Integration tests run from target/*/deps; binaries sit one level up.
    for candidate in [dir.join("stm-adapter"), dir.join("../stm-adapter")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no stm-adapter binary beside {} (build it with `cargo build --release -p adapter-daemon`, or set STM_ADAPTER_BIN)",
        me.display()
    )
}

fn address(line: &str, scheme: &str) -> Option<SocketAddr> {
    let rest = line.split(scheme).nth(1)?;
    rest.split(['/', ' ']).next()?.parse().ok()
}

impl SpawnedDaemon {
    /// Starts `binary serve` with `settings` (environment overrides, STM_ADAPTER__…).
    pub fn start(binary: &Path, settings: &[(&str, &str)]) -> anyhow::Result<SpawnedDaemon> {
        let dir = tempfile::tempdir()?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .env("STM_ADAPTER__TSP__LISTEN", "127.0.0.1:0")
            .env("STM_ADAPTER__ADMIN__LISTEN", "127.0.0.1:0")
            .env("STM_ADAPTER__ISO8583__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("daemon.log"),
            )?));
        for (k, v) in settings {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut tsp, mut switch, mut admin) = (None, None, None);
        for line in lines.by_ref() {
            let line = line?;
            if line.contains("TSP (terminals)") {
                tsp = address(&line, "wss://");
            } else if line.contains("ISO 8583 (switch)") {
                switch = address(&line, "tcp://");
            } else if line.trim_start().starts_with("admin") {
                admin = address(&line, "http://");
            }
            if tsp.is_some() && switch.is_some() && admin.is_some() {
                break;
            }
        }
        // Keep draining stdout so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        match (tsp, switch, admin) {
            (Some(tsp), Some(switch), Some(admin)) => Ok(SpawnedDaemon {
                child,
                dir,
                tsp,
                switch,
                admin,
            }),
            _ => {
                let log =
                    std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
                Err(anyhow!("the daemon did not start: {}", log.trim()))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A target for the kit.
    pub fn target(&self) -> Target {
        let mut t = Target::deployment(
            &format!("stm-adapter serve (pid {}), embedded defaults", self.pid()),
            self.dir.path(),
            self.tsp,
            self.switch,
        );
        t.admin = Some(self.admin);
        t
    }
}
