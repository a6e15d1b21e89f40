//! The session engine: a sans-IO state machine that runs an item's flow with a terminal.
//!
//! Inputs are what happened — a terminal message ([`Input::Terminal`]), a platform result
//! ([`Input::Platform`]), a timer expiring ([`Input::Timer`]), the connection dropping or coming
//! back — and [`Session::handle`] answers with [`Action`]s: messages to send, platform calls to
//! make, journal entries to write, timers to set or cancel. It reads no clock and does no I/O,
//! so every path (cancel and timeout at every step, resume, duplicates, platform failures,
//! failure after payment) is tested by feeding inputs.
//!
//! The shell must write every [`Action::Journal`] durably before it performs the actions that
//! follow it in the same batch: that is what makes a taken payment end either confirmed or
//! refunded.
//!
//! The session-level protocol (Session.Open, Resume, Close, Catalogue.GetOffer, acknowledging
//! terminal commands) belongs to the shell, which also turns Item.Start into
//! [`Input::StartItem`] with the item's [`ItemPlan`].

mod journal;
mod plan;
mod run;

use std::collections::VecDeque;
use std::time::Duration;

use adapter_protocols::tsp::{self, Command, CommandName, CompletionCode, Message};

pub use journal::JournalEntry;
pub use plan::{APPOINTMENT_DAYS, FeePlan, ItemPlan, PlannedMaterial, PlannedOutput, PlannedStep};

use crate::platform::{PlatformCall, PlatformError, PlatformReply};
use run::Run;

/// A timer the engine asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// A platform call the engine asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Timing and retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The `timeout` of step commands; the terminal completes with `timeOut` when it passes.
    pub step_timeout: Duration,
    /// Extra time the engine waits beyond `step_timeout` before giving up on the terminal.
    pub grace: Duration,
    /// How long a dropped session waits for Session.Resume.
    pub resume_window: Duration,
    /// Attempts at identification (a face that does not match, a bad QR code).
    pub identify_attempts: u8,
    /// Attempts at a form (invalid values, an unknown payment notice).
    pub form_attempts: u8,
    /// Times a QR payment is checked before giving up.
    pub qr_checks: u8,
    /// Waits before retrying a retryable platform error; their count is the number of retries.
    pub backoff: Vec<Duration>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            step_timeout: Duration::from_secs(120),
            grace: Duration::from_secs(10),
            resume_window: Duration::from_secs(120),
            identify_attempts: 2,
            form_attempts: 3,
            qr_checks: 3,
            backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
            ],
        }
    }
}

/// What happened.
#[derive(Debug, Clone)]
pub enum Input {
    /// The terminal asked to run an item (its Item.Start, accepted and planned by the shell).
    StartItem {
        request_id: u64,
        plan: ItemPlan,
    },
    /// A message from the terminal: a completion, acknowledge or event of a step, or Item.Cancel.
    Terminal(Message),
    /// The result of a platform call.
    Platform {
        call: CallId,
        result: Result<PlatformReply, PlatformError>,
    },
    Timer(TimerId),
    /// The connection dropped; the session waits for Session.Resume.
    Disconnected,
    /// Session.Resume succeeded on a new connection.
    Resumed,
    /// The session is closing (Session.Close, shutdown): a running item is cancelled.
    Close,
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send this message to the terminal.
    Send(Message),
    /// Make this platform call and report its result as `Input::Platform` with this id.
    Call {
        id: CallId,
        call: PlatformCall,
    },
    /// Write this entry to the journal, durably, before the actions after it.
    Journal(JournalEntry),
    /// Report `Input::Timer(id)` after this long.
    SetTimer {
        id: TimerId,
        after: Duration,
    },
    CancelTimer(TimerId),
    /// The session is over: close the connection and forget it.
    Ended,
}

/// One terminal session.
#[derive(Debug)]
pub struct Session {
    id: String,
    terminal_id: String,
    config: SessionConfig,
    next_request: u64,
    next_call: u64,
    next_timer: u64,
    connected: bool,
    /// Messages that could not be sent while disconnected, in order.
    outbox: VecDeque<Message>,
    resume_timer: Option<TimerId>,
    run: Option<Run>,
    closing: bool,
    ended: bool,
}

/// Ids and plumbing the run borrows from the session.
pub(crate) struct Ctx<'a> {
    pub(crate) session_id: &'a str,
    pub(crate) terminal_id: &'a str,
    pub(crate) config: &'a SessionConfig,
    next_request: &'a mut u64,
    next_call: &'a mut u64,
    next_timer: &'a mut u64,
    connected: bool,
    outbox: &'a mut VecDeque<Message>,
    pub(crate) out: Vec<Action>,
}

impl Ctx<'_> {
    pub(crate) fn send(&mut self, message: Message) {
        if self.connected {
            self.out.push(Action::Send(message));
        } else {
            self.outbox.push_back(message);
        }
    }

    /// Sends a step command; returns its request id.
    pub(crate) fn send_command(&mut self, command: Command) -> u64 {
        let request_id = *self.next_request;
        *self.next_request += 1;
        let timeout_ms = u64::try_from(self.config.step_timeout.as_millis()).unwrap_or(u64::MAX);
        self.send(Message::Command {
            request_id,
            timeout_ms: Some(timeout_ms),
            command,
        });
        request_id
    }

    pub(crate) fn call(&mut self, call: PlatformCall) -> CallId {
        let id = CallId(*self.next_call);
        *self.next_call += 1;
        self.out.push(Action::Call { id, call });
        id
    }

    pub(crate) fn timer(&mut self, after: Duration) -> TimerId {
        let id = TimerId(*self.next_timer);
        *self.next_timer += 1;
        self.out.push(Action::SetTimer { id, after });
        id
    }

    pub(crate) fn cancel_timer(&mut self, id: TimerId) {
        self.out.push(Action::CancelTimer(id));
    }

    pub(crate) fn journal(&mut self, entry: JournalEntry) {
        self.out.push(Action::Journal(entry));
    }

    pub(crate) fn connected(&self) -> bool {
        self.connected
    }
}

impl Session {
    pub fn new(
        id: impl Into<String>,
        terminal_id: impl Into<String>,
        config: SessionConfig,
    ) -> Session {
        Session {
            id: id.into(),
            terminal_id: terminal_id.into(),
            config,
            next_request: 1,
            next_call: 1,
            next_timer: 1,
            connected: true,
            outbox: VecDeque::new(),
            resume_timer: None,
            run: None,
            closing: false,
            ended: false,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether an item is running.
    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }

    /// The request id of the step command waiting for the terminal, if any (Session.Resume
    /// reports it).
    pub fn pending_request_id(&self) -> Option<u64> {
        self.run.as_ref().and_then(Run::pending_request_id)
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Handles one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        if self.ended {
            return Vec::new();
        }
        let mut ctx = Ctx {
            session_id: &self.id,
            terminal_id: &self.terminal_id,
            config: &self.config,
            next_request: &mut self.next_request,
            next_call: &mut self.next_call,
            next_timer: &mut self.next_timer,
            connected: self.connected,
            outbox: &mut self.outbox,
            out: Vec::new(),
        };
        match input {
            Input::StartItem { request_id, plan } => {
                if self.run.is_some() || self.closing {
                    ctx.send(Message::failure(
                        request_id,
                        CommandName::ItemStart,
                        CompletionCode::SequenceError,
                        "an item is already running",
                    ));
                } else {
                    let mut run = Run::new(request_id, plan);
                    run.start(&mut ctx);
                    self.run = Some(run);
                }
            }
            Input::Terminal(message) => match (message, self.run.as_mut()) {
                (
                    Message::Command {
                        request_id,
                        command: Command::ItemCancel(_),
                        ..
                    },
                    run,
                ) => {
                    ctx.send(Message::success(
                        request_id,
                        tsp::CompletionPayload::ItemCancel(tsp::Empty {}),
                    ));
                    if let Some(run) = run {
                        run.cancel(&mut ctx, tsp::Outcome::Cancelled, "已取消");
                    }
                }
                (message, Some(run)) => run.on_terminal(&mut ctx, message),
                (message, None) => {
                    if let Some(request_id) = request_id_of(&message) {
                        ctx.journal(JournalEntry::TerminalIgnored {
                            request_id,
                            reason: "no item is running".to_owned(),
                        });
                    }
                }
            },
            Input::Platform { call, result } => {
                if let Some(run) = self.run.as_mut() {
                    run.on_platform(&mut ctx, call, result);
                }
            }
            Input::Timer(id) => {
                if self.resume_timer == Some(id) {
                    self.resume_timer = None;
                    if let Some(run) = self.run.as_mut() {
                        run.cancel(&mut ctx, tsp::Outcome::TimedOut, "连接中断，业务已终止");
                    }
                    self.closing = true;
                } else if let Some(run) = self.run.as_mut() {
                    run.on_timer(&mut ctx, id);
                }
            }
            Input::Disconnected => {
                ctx.connected = false;
                self.connected = false;
                if let Some(run) = self.run.as_mut() {
                    run.on_disconnected(&mut ctx);
                }
                let resume_window = ctx.config.resume_window;
                self.resume_timer = Some(ctx.timer(resume_window));
            }
            Input::Resumed => {
                ctx.connected = true;
                self.connected = true;
                if let Some(t) = self.resume_timer.take() {
                    ctx.cancel_timer(t);
                }
                while let Some(m) = ctx.outbox.pop_front() {
                    ctx.out.push(Action::Send(m));
                }
                if let Some(run) = self.run.as_mut() {
                    run.on_resumed(&mut ctx);
                }
            }
            Input::Close => {
                self.closing = true;
                if let Some(run) = self.run.as_mut() {
                    run.cancel(&mut ctx, tsp::Outcome::Cancelled, "会话已结束");
                }
            }
        }
        let mut out = ctx.out;
        if self.run.as_ref().is_some_and(Run::is_finished) {
            self.run = None;
        }
        if self.closing && self.run.is_none() {
            self.ended = true;
            out.push(Action::Ended);
        }
        out
    }
}

fn request_id_of(message: &Message) -> Option<u64> {
    match message {
        Message::Command { request_id, .. }
        | Message::Acknowledge { request_id, .. }
        | Message::Event { request_id, .. }
        | Message::Completion { request_id, .. } => Some(*request_id),
        Message::Unsolicited(_) => None,
    }
}
