//! A simulated STM: a TSP client (`adapter_protocols::tsp::client`) whose steps are answered by
//! its virtual devices ([`super::devices`]), with what a scenario makes the citizen do on top —
//! cancel at a step, pull the cable at a step, time out.

use std::time::Duration;

use adapter_protocols::tsp::client::{ClientConfig, ClientEvent, StepCommand, TerminalClient};
use adapter_protocols::tsp::{self, CompletionCode, ItemOutcome};
use anyhow::{Context, anyhow, bail};

use super::devices::Devices;

/// Every device a full STM has.
pub const FULL_STM: [&str; 9] = [
    "id-card-reader",
    "face-camera",
    "document-camera",
    "a4-printer",
    "receipt-printer",
    "card-reader",
    "pin-pad",
    "qr-scanner",
    "signature-pad",
];

/// What the citizen does besides answering every step.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// At this step (`Confirm`, `Pay` …) the citizen presses cancel.
    pub cancel_at: Option<String>,
    /// At this step the connection drops; the terminal reconnects and resumes.
    pub drop_at: Option<String>,
    /// At this step nobody acts: the terminal answers `timeOut`.
    pub time_out_at: Option<String>,
}

/// What happened to one item.
#[derive(Debug, Clone, Default)]
pub struct ItemRun {
    /// The steps the daemon sent, without `Step.`, in order.
    pub steps: Vec<String>,
    pub outcome: Option<ItemOutcome>,
    /// Why the daemon refused to start the item.
    pub refused: Option<String>,
    /// Whether the session was resumed on a new connection.
    pub resumed: bool,
    /// Prompts the daemon sent with repeated steps (a face that did not match …).
    pub prompts: Vec<String>,
}

impl ItemRun {
    /// `Completed`, `Cancelled`, `TimedOut`, `Failed`, or `refused`.
    pub fn outcome_name(&self) -> String {
        match (&self.outcome, &self.refused) {
            (Some(o), _) => format!("{:?}", o.outcome),
            (None, Some(_)) => "refused".into(),
            (None, None) => "none".into(),
        }
    }
}

/// One simulated terminal with an open session.
#[derive(Debug)]
pub struct TerminalSim {
    pub client: TerminalClient,
    pub devices: Devices,
    /// How long to wait for the daemon between steps.
    pub patience: Duration,
}

/// The Session.Open payload of a terminal with `devices`.
pub fn session_open(devices: &[&str]) -> tsp::SessionOpen {
    tsp::SessionOpen {
        versions: vec![tsp::VERSION.into()],
        terminal: tsp::TerminalInfo {
            model: "stm-conformance terminal simulator".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            language: "zh-CN".into(),
        },
        capabilities: tsp::TerminalCapabilities {
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
        },
    }
}

impl TerminalSim {
    /// Connects with `config` and opens a session as a full STM.
    pub async fn open(config: ClientConfig, devices: Devices) -> anyhow::Result<TerminalSim> {
        let mut client = TerminalClient::connect(config)
            .await
            .context("connecting")?;
        client
            .open(session_open(&FULL_STM))
            .await
            .context("Session.Open")?;
        Ok(TerminalSim {
            client,
            devices,
            patience: Duration::from_secs(30),
        })
    }

    /// Runs item `code` to its end with `script`; `on_step` sees each step as it comes.
    pub async fn run_item(
        &mut self,
        code: &str,
        script: &Script,
        mut on_step: impl FnMut(&StepCommand),
    ) -> anyhow::Result<ItemRun> {
        let mut run = ItemRun::default();
        let item = self
            .client
            .start_item(code)
            .await
            .with_context(|| format!("Item.Start {code}"))?;
        let mut dropped = false;
        loop {
            let event = tokio::time::timeout(self.patience, self.client.next())
                .await
                .map_err(|_| anyhow!("the daemon sent nothing for {:?}", self.patience))??;
            match event {
                ClientEvent::Step(step) => {
                    let name = step.command.name();
                    let short = name.as_str().trim_start_matches("Step.").to_owned();
                    on_step(&step.command);
                    if let Some(prompt) = prompt_of(&step.command) {
                        run.prompts.push(prompt);
                    }
                    run.steps.push(short.clone());
                    if script.drop_at.as_deref() == Some(short.as_str()) && !dropped {
                        // The cable is pulled before the step is answered; the daemon keeps
                        // the step and sends it again on the resumed connection.
                        dropped = true;
                        self.client.abort_connection();
                        self.client.reconnect().await.context("resuming")?;
                        run.resumed = true;
                        run.steps.pop();
                        continue;
                    }
                    if script.cancel_at.as_deref() == Some(short.as_str()) {
                        self.client
                            .fail(
                                step.request_id,
                                name,
                                CompletionCode::Canceled,
                                "the citizen pressed cancel",
                            )
                            .await?;
                        continue;
                    }
                    if script.time_out_at.as_deref() == Some(short.as_str()) {
                        self.client
                            .fail(
                                step.request_id,
                                name,
                                CompletionCode::TimeOut,
                                "nobody acted",
                            )
                            .await?;
                        continue;
                    }
                    match self.devices.answer(&step.command)? {
                        Some(payload) => self.client.complete(step.request_id, payload).await?,
                        None => {
                            self.client
                                .fail(
                                    step.request_id,
                                    name,
                                    CompletionCode::UserError,
                                    "the card was declined",
                                )
                                .await?
                        }
                    }
                }
                ClientEvent::ItemEnded {
                    request_id,
                    outcome,
                } => {
                    if request_id != item {
                        bail!("an item ended that was not started ({request_id})");
                    }
                    run.outcome = Some(outcome);
                    return Ok(run);
                }
                ClientEvent::ItemRefused {
                    code, description, ..
                } => {
                    run.refused = Some(format!("{code:?}: {description}"));
                    return Ok(run);
                }
                ClientEvent::Unsolicited(_) => {}
                ClientEvent::Disconnected => {
                    self.client.reconnect().await.context("resuming")?;
                    run.resumed = true;
                }
            }
        }
    }

    /// Closes the session.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.client
            .close(Some("conformance run done".into()))
            .await?;
        Ok(())
    }
}

fn prompt_of(command: &StepCommand) -> Option<String> {
    use StepCommand as S;
    match command {
        S::Identify(i) => i.prompt.clone(),
        S::Pay(p) => p.prompt.clone(),
        _ => None,
    }
}
