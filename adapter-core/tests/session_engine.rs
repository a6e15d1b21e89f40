//! The engine, driven input by input: every step kind, cancel and timeout at every step,
//! resume, duplicate completions, platform failures of each class, and failure after payment.
//! The last tests run the platform side through `MockPlatformApi` (feature `mock`).

// A test fails by panicking.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, VecDeque};

use adapter_protocols::tsp::{
    self, Base64Data, Command, CommandName, CompletionCode, CompletionPayload, Message, Outcome,
    Sensitive,
};
use time::macros::datetime;

use adapter_core::ids::DivisionCode;
use adapter_core::plan::{StepKind, Terminal, offer};
use adapter_core::platform::*;
use adapter_core::session::*;
use adapter_core::shipped::{DataSet, shipped};

fn data() -> DataSet {
    DataSet::load(&shipped()).unwrap_or_else(|p| panic!("{p}"))
}

/// The plan of `name` on `profile` in Guangzhou on a Friday morning.
fn plan(data: &DataSet, profile: &str, name: &str) -> ItemPlan {
    let terminal = Terminal {
        profile: data.profile(profile).unwrap_or_else(|| panic!("{profile}")),
        division: DivisionCode::parse("440106").unwrap_or_else(|e| panic!("{e}")),
        site: None,
    };
    let o = offer(
        &data.catalogue,
        &data.calendar,
        &terminal,
        datetime!(2026-11-27 10:00 +8),
    );
    let offered = o
        .offered
        .iter()
        .find(|x| x.item.name == name)
        .unwrap_or_else(|| panic!("{name} is not offered"));
    ItemPlan::from_offered(offered, terminal.division, datetime!(2026-11-27 10:00 +8))
}

fn image() -> Base64Data<{ tsp::MAX_IMAGE_BYTES }> {
    Base64Data::encode(b"\xFF\xD8\xFF\xE0image").unwrap_or_else(|| panic!())
}

/// What the scripted terminal does with a step command.
#[derive(Debug, Clone)]
enum Answer {
    Success,
    Payload(Box<CompletionPayload>),
    Code(CompletionCode),
    Silent,
}

/// The default successful answer of the terminal to a step command.
fn terminal_success(command: &Command) -> CompletionPayload {
    match command {
        Command::Identify(_) => CompletionPayload::Identify(tsp::IdentifyResult {
            method: tsp::IdentifyMethod::IdCardFace,
            id_card: Some(tsp::IdCardData {
                name: Sensitive::new("张三".to_owned()),
                sex: "1".into(),
                ethnicity: "01".into(),
                birth_date: Sensitive::new("19900101".into()),
                address: Sensitive::new("广州市天河区".into()),
                id_number: Sensitive::new("440106199001011234".into()),
                issuing_authority: "广州市公安局".into(),
                valid_from: "20200101".into(),
                valid_to: "20400101".into(),
                photo: Sensitive::new(image()),
            }),
            face: Some(Sensitive::new(image())),
            qr_code: None,
        }),
        Command::Form(f) => CompletionPayload::Form(tsp::FormResult {
            values: f
                .fields
                .iter()
                .map(|field| {
                    let value = match (field.kind.as_str(), field.options.first()) {
                        (_, Some(option)) => option.clone(),
                        ("payment-notice", _) => "4400252611280000123".to_owned(),
                        _ => "1".to_owned(),
                    };
                    (field.id.clone(), Sensitive::new(value))
                })
                .collect(),
        }),
        Command::Materials(m) => CompletionPayload::Materials(tsp::MaterialsResult {
            scans: m
                .materials
                .iter()
                .filter(|x| x.source == "scan")
                .map(|x| tsp::ScannedMaterial {
                    name: x.name.clone(),
                    image: Sensitive::new(image()),
                })
                .collect(),
        }),
        Command::Sign(_) => CompletionPayload::Sign(tsp::SignResult {
            signature: Sensitive::new(image()),
        }),
        Command::Confirm(_) => CompletionPayload::Confirm(tsp::ConfirmResult { confirmed: true }),
        Command::Appointment(a) => CompletionPayload::Appointment(tsp::AppointmentChoice {
            slot_id: a
                .slots
                .first()
                .map(|s| s.slot_id.clone())
                .unwrap_or_default(),
        }),
        Command::Pay(p) => CompletionPayload::Pay(tsp::PayResult {
            method: tsp::PayMethod::Card,
            card: Some(tsp::CardPayment {
                masked_pan: "622202*********0128".into(),
                approval_code: "A12345".into(),
                rrn: "333111000125".into(),
                stan: "000125".into(),
                amount_fen: p.amount_fen,
            }),
            cash_fen: None,
        }),
        Command::Reverse(_) => CompletionPayload::Reverse(tsp::ReverseResult { reversed: true }),
        Command::Submit(_) => CompletionPayload::Submit(tsp::Empty {}),
        Command::Deliver(d) => CompletionPayload::Deliver(tsp::DeliverResult {
            results: d
                .outputs
                .iter()
                .map(|o| tsp::DeliveryReport {
                    result: o.result.clone(),
                    status: "delivered".into(),
                    detail: None,
                })
                .collect(),
        }),
        Command::Rate(_) => CompletionPayload::Rate(tsp::RateResult {
            score: 1,
            text: None,
        }),
        Command::Notice(_) => CompletionPayload::Notice(tsp::Empty {}),
        other => panic!("not a step: {other:?}"),
    }
}

fn subject() -> VerifiedIdentity {
    VerifiedIdentity {
        subject: SubjectRef("sub-1".into()),
        id_number: Sensitive::new("440106199001011234".into()),
        name: Sensitive::new("张三".into()),
        assurance: Assurance::ChipAndFace,
    }
}

fn notice(number: &str, amount: u64, status: NoticeStatus) -> PaymentNotice {
    PaymentNotice {
        notice_number: number.into(),
        amount_fen: amount,
        payee: "广州市公安局".into(),
        due_date: None,
        status,
        qr_payload: Some("https://pay.example/n".into()),
        receipt_number: (status == NoticeStatus::Paid).then(|| "R-QR".into()),
    }
}

/// The default successful answer of the platform.
fn platform_success(call: &PlatformCall) -> Result<PlatformReply, PlatformError> {
    Ok(match call {
        PlatformCall::VerifyIdentity(_) | PlatformCall::QrIdentity(_) => {
            PlatformReply::Identity(subject())
        }
        PlatformCall::LookupLicences(q) => PlatformReply::Licences(
            q.licence_types
                .iter()
                .map(|t| ELicence {
                    licence_id: format!("1.2.156.3005.2.{t}"),
                    licence_type: t.clone(),
                    name: "证照".into(),
                })
                .collect(),
        ),
        PlatformCall::CreateApplication(_) => PlatformReply::Application(ApplicationRef {
            application_id: "APP-1".into(),
        }),
        PlatformCall::UploadMaterial(_) => PlatformReply::Uploaded,
        PlatformCall::SubmitApplication(_) => PlatformReply::Submitted(Submitted {
            case_number: "GD-2026-0001".into(),
            promised_date: Some("2026-12-02".into()),
        }),
        PlatformCall::QueryNotice(n) => {
            PlatformReply::Notice(notice(n, 12300, NoticeStatus::Unpaid))
        }
        PlatformCall::IssueNotice(r) => {
            PlatformReply::Notice(notice("NOTICE-FIXED", r.amount_fen, NoticeStatus::Unpaid))
        }
        PlatformCall::ConfirmPayment(_) => PlatformReply::Confirmed(ConfirmedPayment {
            receipt_number: "R-1".into(),
        }),
        PlatformCall::CancelPayment(_) => PlatformReply::Cancelled(CancelledPayment {
            refund_reference: "RF-1".into(),
        }),
        PlatformCall::FetchDocument(_) => PlatformReply::Document(Document {
            media_type: "application/pdf".into(),
            data: Sensitive::new(b"%PDF-1.4".to_vec()),
            pages: 1,
        }),
        PlatformCall::Evaluate(_) => PlatformReply::Evaluated,
        PlatformCall::AppointmentSlots(q) => PlatformReply::Slots(vec![
            slot(&format!("GZTH-{}-1000", q.from.replace('-', ""))),
            slot(&format!("GZTH-{}-0900", q.from.replace('-', ""))),
        ]),
        PlatformCall::BookAppointment(b) => PlatformReply::Booked(Booking {
            booking_number: format!("BK-{}", b.slot_id),
        }),
    })
}

fn slot(id: &str) -> AppointmentSlot {
    let hour = &id[id.len() - 4..id.len() - 2];
    AppointmentSlot {
        slot_id: id.to_owned(),
        hall: "天河区政务服务中心".into(),
        start: format!("2026-11-30T{hour}:00:00+08:00"),
        end: format!("2026-11-30T{hour}:30:00+08:00"),
        remaining: 3,
    }
}

/// A session with a scripted terminal and platform, recording what the engine does.
struct Driver {
    session: Session,
    pending_commands: VecDeque<(u64, Command)>,
    calls: VecDeque<(CallId, PlatformCall)>,
    timers: BTreeMap<TimerId, std::time::Duration>,
    sent: Vec<Message>,
    journal: Vec<JournalEntry>,
    all_calls: Vec<PlatformCall>,
    ended: bool,
}

impl Driver {
    fn start(plan: ItemPlan) -> Driver {
        let mut d = Driver {
            session: Session::new("s-1", "T-0001", SessionConfig::default()),
            pending_commands: VecDeque::new(),
            calls: VecDeque::new(),
            timers: BTreeMap::new(),
            sent: Vec::new(),
            journal: Vec::new(),
            all_calls: Vec::new(),
            ended: false,
        };
        d.feed(Input::StartItem {
            request_id: 100,
            plan,
        });
        d
    }

    fn feed(&mut self, input: Input) {
        for action in self.session.handle(input) {
            match action {
                Action::Send(m) => {
                    if let Message::Command {
                        request_id,
                        command,
                        ..
                    } = &m
                    {
                        self.pending_commands.retain(|(id, _)| id != request_id);
                        self.pending_commands
                            .push_back((*request_id, command.clone()));
                    }
                    self.sent.push(m);
                }
                Action::Call { id, call } => {
                    self.all_calls.push(call.clone());
                    self.calls.push_back((id, call));
                }
                Action::Journal(e) => self.journal.push(e),
                Action::SetTimer { id, after } => {
                    self.timers.insert(id, after);
                }
                Action::CancelTimer(id) => {
                    self.timers.remove(&id);
                }
                Action::Ended => self.ended = true,
            }
        }
    }

    /// Answers platform calls and terminal steps until nothing is pending or `stop` says so.
    fn run(
        &mut self,
        terminal: impl FnMut(&Command, usize) -> Answer,
        platform: impl FnMut(&PlatformCall, usize) -> Result<PlatformReply, PlatformError>,
    ) {
        self.run_until(terminal, platform, |_| false);
    }

    /// As `run`, but stops before answering a call `hold` picks (it stays pending).
    fn run_until(
        &mut self,
        mut terminal: impl FnMut(&Command, usize) -> Answer,
        mut platform: impl FnMut(&PlatformCall, usize) -> Result<PlatformReply, PlatformError>,
        hold: impl Fn(&PlatformCall) -> bool,
    ) {
        let mut seen_steps = 0usize;
        let mut seen_calls = 0usize;
        for _ in 0..200 {
            if self.calls.front().is_some_and(|(_, c)| hold(c)) {
                return;
            }
            if let Some((id, call)) = self.calls.pop_front() {
                let result = platform(&call, seen_calls);
                seen_calls += 1;
                self.feed(Input::Platform { call: id, result });
                continue;
            }
            let Some((request_id, command)) = self.pending_commands.pop_front() else {
                // A retry waits for its timer.
                if let Some(id) = self.retry_timer() {
                    self.timers.remove(&id);
                    self.feed(Input::Timer(id));
                    continue;
                }
                return;
            };
            let answer = terminal(&command, seen_steps);
            seen_steps += 1;
            match answer {
                Answer::Success => {
                    let payload = terminal_success(&command);
                    self.complete(request_id, payload);
                }
                Answer::Payload(payload) => self.complete(request_id, *payload),
                Answer::Code(code) => self.feed(Input::Terminal(Message::failure(
                    request_id,
                    command.name(),
                    code,
                    "scripted",
                ))),
                Answer::Silent => return,
            }
        }
        panic!("the run did not settle");
    }

    fn retry_timer(&self) -> Option<TimerId> {
        // Retry timers are the short ones (backoff), step timers are long.
        self.timers
            .iter()
            .find(|(_, after)| **after < std::time::Duration::from_secs(60))
            .map(|(id, _)| *id)
    }

    fn complete(&mut self, request_id: u64, payload: CompletionPayload) {
        self.feed(Input::Terminal(Message::success(request_id, payload)));
    }

    fn run_ok(&mut self) {
        self.run(|_, _| Answer::Success, |c, _| platform_success(c));
    }

    fn outcome(&self) -> Option<tsp::ItemOutcome> {
        self.sent.iter().rev().find_map(|m| match m {
            Message::Completion {
                request_id: 100,
                payload: Some(CompletionPayload::ItemStart(o)),
                ..
            } => Some(o.clone()),
            _ => None,
        })
    }

    fn steps_sent(&self) -> Vec<CommandName> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                Message::Command { command, .. } => Some(command.name()),
                _ => None,
            })
            .collect()
    }

    fn has(&self, f: impl Fn(&JournalEntry) -> bool) -> bool {
        self.journal.iter().any(f)
    }
}

const FULL: &str = "机动车驾驶证期满换证";

#[test]
fn a_full_flow_runs_every_step_kind() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", FULL));
    d.run_ok();
    use CommandName::*;
    assert_eq!(
        d.steps_sent(),
        [
            Identify, Form, Materials, Sign, Confirm, Pay, Submit, Deliver, Rate
        ]
    );
    let outcome = d.outcome().unwrap_or_else(|| panic!("no outcome"));
    assert_eq!(outcome.outcome, Outcome::Completed);
    assert_eq!(outcome.case_number.as_deref(), Some("GD-2026-0001"));
    assert_eq!(outcome.receipt_number.as_deref(), Some("R-1"));
    assert!(outcome.refund.is_none());
    // The e-licences were pulled, the photo scanned, the signature attached, the fee paid by
    // a notice issued for the application, then submitted and rated.
    let names: Vec<&str> = d.all_calls.iter().map(PlatformCall::name).collect();
    assert_eq!(
        names,
        [
            "verify_identity",
            "lookup_licences",
            "create_application",
            "upload_material",
            "upload_material",
            "upload_material",
            "upload_material",
            "issue_notice",
            "confirm_payment",
            "submit_application",
            "evaluate"
        ]
    );
    assert!(d.has(|e| matches!(
        e,
        JournalEntry::PaymentTaken {
            amount_fen: 1000,
            ..
        }
    )));
    assert!(d.has(|e| matches!(
        e,
        JournalEntry::ItemEnded {
            outcome: Outcome::Completed,
            ..
        }
    )));
    assert!(!d.session.is_running());
}

#[test]
fn a_notice_payment_and_a_query_and_a_certificate_print() {
    let data = data();
    // A traffic fine on an ISO 8583-less STM: identity none, notice form, pay, receipt.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run_ok();
    assert_eq!(
        d.steps_sent(),
        [
            CommandName::Form,
            CommandName::Confirm,
            CommandName::Pay,
            CommandName::Deliver,
            CommandName::Rate
        ]
    );
    assert_eq!(
        d.outcome().map(|o| o.receipt_number),
        Some(Some("R-1".into()))
    );
    // The receipt is printed from the platform's document for the notice.
    let deliver = d.sent.iter().find_map(|m| match m {
        Message::Command {
            command: Command::Deliver(s),
            ..
        } => Some(s.clone()),
        _ => None,
    });
    assert!(deliver.is_some_and(|s| s.outputs[0].document.is_some()));

    let mut q = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    q.run_ok();
    assert_eq!(q.outcome().map(|o| o.outcome), Some(Outcome::Completed));
    assert!(
        q.all_calls
            .iter()
            .any(|c| matches!(c, PlatformCall::FetchDocument(r) if r.result == "户籍证明"))
    );
}

/// For each step of the full flow: the citizen cancels it, or lets it time out.
#[test]
fn cancel_and_timeout_at_every_step_end_the_item_and_make_money_safe() {
    let data = data();
    let full = plan(&data, "stm-full", FULL);
    let steps = full.steps.len();
    for at in 0..steps {
        for (code, expected) in [
            (CompletionCode::Canceled, Outcome::Cancelled),
            (CompletionCode::TimeOut, Outcome::TimedOut),
        ] {
            let mut d = Driver::start(full.clone());
            d.run(
                |_, i| {
                    if i == at {
                        Answer::Code(code)
                    } else {
                        Answer::Success
                    }
                },
                |c, _| platform_success(c),
            );
            let outcome = d
                .outcome()
                .unwrap_or_else(|| panic!("step {at}: no outcome"));
            let kind = full.steps[at].kind();
            match kind {
                // After submission the service is rendered: printing or rating cannot undo it.
                StepKind::Deliver | StepKind::Rate => {
                    assert_eq!(outcome.outcome, Outcome::Completed, "step {at} {kind:?}");
                    assert!(outcome.refund.is_none());
                }
                StepKind::Submit => {
                    // Submitted at the platform before the citizen saw it: not undone either.
                    assert_eq!(outcome.outcome, expected, "step {at}");
                    assert_eq!(outcome.case_number.as_deref(), Some("GD-2026-0001"));
                    assert!(outcome.refund.is_none());
                }
                _ => {
                    assert_eq!(outcome.outcome, expected, "step {at} {kind:?}");
                    assert!(outcome.refund.is_none(), "step {at}: nothing was paid yet");
                    assert!(!d.has(|e| matches!(e, JournalEntry::PaymentTaken { .. })));
                }
            }
            assert!(!d.session.is_running(), "step {at}");
        }
    }
}

const APPOINTMENT: &str = "婚姻登记预约";

#[test]
fn an_appointment_is_chosen_from_the_slots_and_booked() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", APPOINTMENT));
    d.run_ok();
    use CommandName::*;
    assert_eq!(
        d.steps_sent(),
        [Identify, Form, Confirm, Appointment, Deliver, Rate]
    );
    // Slots in time order; the earliest was chosen and booked under a key of its own.
    let offered: Vec<String> = d
        .sent
        .iter()
        .find_map(|m| match m {
            Message::Command {
                command: Command::Appointment(a),
                ..
            } => Some(a.slots.iter().map(|s| s.slot_id.clone()).collect()),
            _ => None,
        })
        .unwrap_or_default();
    assert_eq!(offered, ["GZTH-20261127-0900", "GZTH-20261127-1000"]);
    let query = d.all_calls.iter().find_map(|c| match c {
        PlatformCall::AppointmentSlots(q) => Some(q.clone()),
        _ => None,
    });
    let query = query.unwrap_or_else(|| panic!("no slot query"));
    assert_eq!(
        (query.division.as_str(), query.from.as_str(), query.days),
        ("440106", "2026-11-27", 7)
    );
    let booking = d.all_calls.iter().find_map(|c| match c {
        PlatformCall::BookAppointment(b) => Some(b.clone()),
        _ => None,
    });
    let booking = booking.unwrap_or_else(|| panic!("no booking"));
    assert_eq!(booking.slot_id, "GZTH-20261127-0900");
    assert!(booking.idempotency_key.is_ascii() && booking.idempotency_key.contains("/booking/"));
    let outcome = d.outcome().unwrap_or_else(|| panic!("no outcome"));
    assert_eq!(outcome.outcome, Outcome::Completed);
    assert_eq!(
        outcome.booking_number.as_deref(),
        Some("BK-GZTH-20261127-0900")
    );
    assert!(d.has(
        |e| matches!(e, JournalEntry::AppointmentBooked { booking_number, .. }
        if booking_number == "BK-GZTH-20261127-0900")
    ));
    // The receipt names the booking and the slot.
    let fetch = d.all_calls.iter().find_map(|c| match c {
        PlatformCall::FetchDocument(r) => Some(r.clone()),
        _ => None,
    });
    let fetch = fetch.unwrap_or_else(|| panic!("no receipt"));
    assert_eq!(fetch.reference, "BK-GZTH-20261127-0900");
    assert!(fetch.form.contains_key("appointment"));
}

#[test]
fn a_slot_that_fills_up_sends_the_citizen_back_to_fresh_slots() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", APPOINTMENT));
    let mut queries = 0;
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::BookAppointment(b) if b.slot_id.ends_with("0900") => Err(
                PlatformError::new(ErrorClass::Final, "SLOT_FULL", "the slot is fully booked"),
            ),
            PlatformCall::AppointmentSlots(_) if queries > 0 => {
                Ok(PlatformReply::Slots(vec![slot("GZTH-20261127-1000")]))
            }
            PlatformCall::AppointmentSlots(_) => {
                queries += 1;
                platform_success(c)
            }
            other => platform_success(other),
        },
    );
    let prompts: Vec<Option<String>> = d
        .sent
        .iter()
        .filter_map(|m| match m {
            Message::Command {
                command: Command::Appointment(a),
                ..
            } => Some(a.prompt.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert!(prompts[0].is_none() && prompts[1].is_some());
    let queries = d
        .all_calls
        .iter()
        .filter(|c| matches!(c, PlatformCall::AppointmentSlots(_)))
        .count();
    assert_eq!(queries, 2, "slots are looked up again");
    let outcome = d.outcome().unwrap_or_else(|| panic!("no outcome"));
    assert_eq!(outcome.outcome, Outcome::Completed);
    assert_eq!(
        outcome.booking_number.as_deref(),
        Some("BK-GZTH-20261127-1000")
    );

    // No slot at all: the item ends, nothing booked.
    let mut d = Driver::start(plan(&data, "stm-full", APPOINTMENT));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::AppointmentSlots(_) => Ok(PlatformReply::Slots(Vec::new())),
            other => platform_success(other),
        },
    );
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Failed));
    assert!(!d.steps_sent().contains(&CommandName::Appointment));
    assert!(!d.has(|e| matches!(e, JournalEntry::AppointmentBooked { .. })));

    // A choice that was not offered is asked again, then the item gives up.
    let mut d = Driver::start(plan(&data, "stm-full", APPOINTMENT));
    d.run(
        |c, _| match c {
            Command::Appointment(_) => Answer::Payload(Box::new(CompletionPayload::Appointment(
                tsp::AppointmentChoice {
                    slot_id: "INVENTED".into(),
                },
            ))),
            _ => Answer::Success,
        },
        |c, _| platform_success(c),
    );
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Failed));
    assert!(
        !d.all_calls
            .iter()
            .any(|c| matches!(c, PlatformCall::BookAppointment(_)))
    );
}

#[test]
fn a_silent_terminal_times_out_on_the_engine_s_own_timer() {
    let data = data();
    let full = plan(&data, "stm-full", FULL);
    for at in 0..full.steps.len() {
        let mut d = Driver::start(full.clone());
        d.run(
            |_, i| {
                if i == at {
                    Answer::Silent
                } else {
                    Answer::Success
                }
            },
            |c, _| platform_success(c),
        );
        let step_timer = d
            .timers
            .iter()
            .find(|(_, after)| after.as_secs() >= 60)
            .map(|(id, _)| *id);
        let timer = step_timer.unwrap_or_else(|| panic!("step {at}: no step timer"));
        d.feed(Input::Timer(timer));
        let outcome = d.outcome().map(|o| o.outcome);
        let kind = full.steps[at].kind();
        let expected = match kind {
            StepKind::Deliver | StepKind::Rate => Outcome::Completed,
            _ => Outcome::TimedOut,
        };
        // Deliver and Rate are best effort: the engine carries on, then the next step waits.
        if outcome.is_none() {
            d.run_ok();
        }
        assert_eq!(
            d.outcome().map(|o| o.outcome),
            Some(expected),
            "step {at} {kind:?}"
        );
    }
}

#[test]
fn cancel_after_a_confirmed_payment_cancels_it_at_the_platform() {
    let data = data();
    let full = plan(&data, "stm-full", FULL);
    let mut d = Driver::start(full);
    // Submission fails for good after the fee was confirmed.
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::SubmitApplication(_) => {
                Err(PlatformError::new(ErrorClass::Final, "E-SUBMIT", "refused"))
            }
            other => platform_success(other),
        },
    );
    let outcome = d.outcome().unwrap_or_else(|| panic!());
    assert_eq!(outcome.outcome, Outcome::Failed);
    let refund = outcome.refund.unwrap_or_else(|| panic!("no refund"));
    assert_eq!(
        (refund.status.as_str(), refund.amount_fen),
        ("pending", 1000)
    );
    assert!(d.has(|e| matches!(e, JournalEntry::PaymentCancelled { .. })));
    assert!(
        d.all_calls
            .iter()
            .any(|c| matches!(c, PlatformCall::CancelPayment(_)))
    );
}

#[test]
fn a_payment_the_platform_refuses_is_reversed_on_the_terminal() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::ConfirmPayment(_) => Err(PlatformError::new(
                ErrorClass::Final,
                "E-PAID",
                "already paid",
            )),
            other => platform_success(other),
        },
    );
    assert!(d.steps_sent().contains(&CommandName::Reverse));
    let outcome = d.outcome().unwrap_or_else(|| panic!());
    assert_eq!(outcome.outcome, Outcome::Failed);
    assert_eq!(outcome.refund.map(|r| r.status), Some("reversed".into()));
    assert!(d.has(|e| matches!(e, JournalEntry::PaymentReversed { .. })));

    // The terminal cannot reverse: the refund is recorded for store-and-forward.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run(
        |c, _| {
            if matches!(c, Command::Reverse(_)) {
                Answer::Code(CompletionCode::HardwareError)
            } else {
                Answer::Success
            }
        },
        |c, _| match c {
            PlatformCall::ConfirmPayment(_) => {
                Err(PlatformError::new(ErrorClass::NotFound, "E-NOTICE", "gone"))
            }
            other => platform_success(other),
        },
    );
    assert_eq!(
        d.outcome().and_then(|o| o.refund).map(|r| r.status),
        Some("pending".into())
    );
    assert!(d.has(|e| matches!(e, JournalEntry::RefundRequired { .. })));
}

#[test]
fn retryable_errors_are_retried_then_deferred_or_given_up() {
    let data = data();
    // Confirm fails twice, then works: retried with the same idempotency key.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    let mut confirms = 0;
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::ConfirmPayment(_) => {
                confirms += 1;
                if confirms < 3 {
                    Err(PlatformError::new(ErrorClass::Retryable, "503", "busy"))
                } else {
                    platform_success(c)
                }
            }
            other => platform_success(other),
        },
    );
    let keys: Vec<String> = d
        .all_calls
        .iter()
        .filter_map(|c| match c {
            PlatformCall::ConfirmPayment(p) => Some(p.idempotency_key.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "one idempotency key for every retry"
    );
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Completed));

    // The platform stays down: the confirmation is deferred to store-and-forward, the citizen
    // is served, nothing is refunded.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::ConfirmPayment(_) => Err(PlatformError::new(
                ErrorClass::Retryable,
                "timeout",
                "no answer",
            )),
            other => platform_success(other),
        },
    );
    assert!(d.has(|e| matches!(e, JournalEntry::ConfirmationDeferred { .. })));
    let outcome = d.outcome().unwrap_or_else(|| panic!());
    assert_eq!(outcome.outcome, Outcome::Completed);
    assert!(outcome.refund.is_none());

    // Unauthorised: our credentials are wrong, the payment is good — deferred as well.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::ConfirmPayment(_) => Err(PlatformError::new(
                ErrorClass::Unauthorised,
                "401",
                "bad signature",
            )),
            other => platform_success(other),
        },
    );
    assert!(d.has(|e| matches!(e, JournalEntry::ConfirmationDeferred { .. })));

    // A confirmation answer that could not be trusted (bad signature, wrong schema): the
    // platform may have recorded it, so it is deferred, never reversed.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::ConfirmPayment(_) => Err(PlatformError::new(
                ErrorClass::BadResponse,
                "BAD_SIGNATURE",
                "response signature did not verify",
            )),
            other => platform_success(other),
        },
    );
    assert!(d.has(|e| matches!(e, JournalEntry::ConfirmationDeferred { .. })));
    assert!(d.outcome().is_some_and(|o| o.refund.is_none()));

    // Identity service down for good: the item fails without retrying forever.
    let mut d = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::VerifyIdentity(_) => {
                Err(PlatformError::new(ErrorClass::Retryable, "503", "down"))
            }
            other => platform_success(other),
        },
    );
    let identify_calls = d
        .all_calls
        .iter()
        .filter(|c| c.name() == "verify_identity")
        .count();
    assert_eq!(identify_calls, 1 + SessionConfig::default().backoff.len());
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Failed));
}

#[test]
fn final_and_not_found_errors_ask_the_citizen_again() {
    let data = data();
    // The face does not match the first time.
    let mut d = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    d.run(
        |_, _| Answer::Success,
        |c, i| match (c, i) {
            (PlatformCall::VerifyIdentity(_), 0) => {
                Err(PlatformError::new(ErrorClass::Final, "FACE", "mismatch"))
            }
            (other, _) => platform_success(other),
        },
    );
    let identifies = d
        .steps_sent()
        .iter()
        .filter(|n| **n == CommandName::Identify)
        .count();
    assert_eq!(identifies, 2);
    assert!(d.has(|e| matches!(e, JournalEntry::IdentityRefused { .. })));
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Completed));

    // An unknown notice number: the form comes back with an error on the field.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run(
        |_, _| Answer::Success,
        |c, i| match (c, i) {
            (PlatformCall::QueryNotice(_), 0) => Err(PlatformError::new(
                ErrorClass::NotFound,
                "NOTICE",
                "unknown",
            )),
            (other, _) => platform_success(other),
        },
    );
    let forms: Vec<BTreeMap<String, String>> = d
        .sent
        .iter()
        .filter_map(|m| match m {
            Message::Command {
                command: Command::Form(f),
                ..
            } => Some(f.errors.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(forms.len(), 2);
    assert!(forms[1].contains_key("notice"));
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Completed));

    // A notice already paid: nothing to do, nothing taken.
    let mut d = Driver::start(plan(&data, "stm-full", "交通违法罚款缴纳"));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::QueryNotice(n) => {
                Ok(PlatformReply::Notice(notice(n, 100, NoticeStatus::Paid)))
            }
            other => platform_success(other),
        },
    );
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Failed));
    assert!(!d.steps_sent().contains(&CommandName::Pay));
}

#[test]
fn a_qr_payment_is_checked_with_the_platform_until_it_arrives() {
    let data = data();
    let mut d = Driver::start(plan(&data, "village-kiosk", "城乡居民基本医疗保险费缴纳"));
    let mut checks = 0;
    let mut queried = false;
    d.run(
        |c, _| match c {
            Command::Pay(p) => {
                assert_eq!(p.methods, [tsp::PayMethod::Qr]);
                assert!(p.qr_payload.is_some());
                Answer::Payload(Box::new(CompletionPayload::Pay(tsp::PayResult {
                    method: tsp::PayMethod::Qr,
                    card: None,
                    cash_fen: None,
                })))
            }
            _ => Answer::Success,
        },
        |c, _| match c {
            PlatformCall::QueryNotice(n) if !queried => {
                queried = true;
                Ok(PlatformReply::Notice(notice(
                    n,
                    38000,
                    NoticeStatus::Unpaid,
                )))
            }
            PlatformCall::QueryNotice(n) => {
                checks += 1;
                let status = if checks < 2 {
                    NoticeStatus::Unpaid
                } else {
                    NoticeStatus::Paid
                };
                Ok(PlatformReply::Notice(notice(n, 38000, status)))
            }
            other => platform_success(other),
        },
    );
    let pays: Vec<Option<String>> = d
        .sent
        .iter()
        .filter_map(|m| match m {
            Message::Command {
                command: Command::Pay(p),
                ..
            } => Some(p.prompt.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        pays.len(),
        2,
        "the step comes again while the payment has not arrived"
    );
    assert!(pays[1].is_some());
    assert_eq!(
        d.outcome().and_then(|o| o.receipt_number),
        Some("R-QR".into())
    );
}

#[test]
fn resume_sends_the_pending_step_again_with_its_request_id() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    let (request_id, _) = d
        .pending_commands
        .front()
        .cloned()
        .unwrap_or_else(|| panic!());
    d.pending_commands.clear();
    d.feed(Input::Disconnected);
    assert_eq!(d.session.pending_request_id(), Some(request_id));
    let before = d.sent.len();
    d.feed(Input::Resumed);
    let resent = d.sent[before..].iter().find_map(|m| match m {
        Message::Command { request_id, .. } => Some(*request_id),
        _ => None,
    });
    assert_eq!(resent, Some(request_id));
    d.run_ok();
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Completed));
}

#[test]
fn messages_while_disconnected_wait_for_resume_and_the_window_ends_the_session() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    let (request_id, command) = d.pending_commands.pop_front().unwrap_or_else(|| panic!());
    d.feed(Input::Disconnected);
    // The completion sent before the drop arrives late; the platform answers while offline.
    d.complete(request_id, terminal_success(&command));
    let (id, call) = d.calls.pop_front().unwrap_or_else(|| panic!());
    let sent_before = d.sent.len();
    d.feed(Input::Platform {
        call: id,
        result: platform_success(&call),
    });
    assert_eq!(
        d.sent.len(),
        sent_before,
        "nothing is sent while disconnected"
    );
    // Nobody comes back: the resume window ends the session.
    let window = d
        .timers
        .iter()
        .find(|(_, a)| a.as_secs() == 120)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!());
    d.feed(Input::Timer(window));
    assert!(d.ended);
    assert!(d.has(|e| matches!(
        e,
        JournalEntry::ItemEnded {
            outcome: Outcome::TimedOut,
            ..
        }
    )));
}

#[test]
fn duplicate_and_unknown_completions_are_applied_once() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    let (request_id, command) = d.pending_commands.pop_front().unwrap_or_else(|| panic!());
    d.complete(request_id, terminal_success(&command));
    d.complete(request_id, terminal_success(&command));
    d.complete(999, terminal_success(&command));
    let identity_calls = d
        .calls
        .iter()
        .filter(|(_, c)| c.name() == "verify_identity")
        .count();
    assert_eq!(identity_calls, 1);
    let ignored = d
        .journal
        .iter()
        .filter(|e| matches!(e, JournalEntry::TerminalIgnored { .. }))
        .count();
    assert_eq!(ignored, 2);
    d.run_ok();
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Completed));
}

#[test]
fn item_cancel_between_steps_and_a_second_item_start() {
    let data = data();
    let cancel = |d: &mut Driver, request_id| {
        d.feed(Input::Terminal(Message::Command {
            request_id,
            timeout_ms: None,
            command: Command::ItemCancel(tsp::ItemCancel {}),
        }))
    };
    // Run until the fee is confirmed and submission is in flight.
    let mut d = Driver::start(plan(&data, "stm-full", FULL));
    let is_submit = |c: &PlatformCall| matches!(c, PlatformCall::SubmitApplication(_));
    d.run_until(
        |_, _| Answer::Success,
        |c, _| platform_success(c),
        is_submit,
    );
    // A second Item.Start while one runs is a sequence error.
    d.feed(Input::StartItem {
        request_id: 200,
        plan: plan(&data, "stm-full", "户籍证明开具"),
    });
    assert!(d.sent.iter().any(|m| matches!(
        m,
        Message::Completion {
            request_id: 200,
            code: CompletionCode::SequenceError,
            ..
        }
    )));
    // The citizen cancels; the submission fails for good: the confirmed fee is cancelled at the
    // platform.
    cancel(&mut d, 101);
    assert!(d.sent.iter().any(|m| matches!(
        m,
        Message::Completion {
            request_id: 101,
            code: CompletionCode::Success,
            ..
        }
    )));
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::SubmitApplication(_) => {
                Err(PlatformError::new(ErrorClass::Final, "E", "refused"))
            }
            other => platform_success(other),
        },
    );
    let outcome = d.outcome().unwrap_or_else(|| panic!());
    assert_eq!(outcome.outcome, Outcome::Cancelled);
    assert_eq!(outcome.refund.map(|r| r.status), Some("pending".into()));
    assert!(
        d.all_calls
            .iter()
            .any(|c| matches!(c, PlatformCall::CancelPayment(_)))
    );

    // Same, but the submission goes through: the service is rendered, nothing is refunded.
    let mut d = Driver::start(plan(&data, "stm-full", FULL));
    d.run_until(
        |_, _| Answer::Success,
        |c, _| platform_success(c),
        is_submit,
    );
    cancel(&mut d, 101);
    d.run_ok();
    let outcome = d.outcome().unwrap_or_else(|| panic!());
    assert_eq!(outcome.outcome, Outcome::Cancelled);
    assert_eq!(outcome.case_number.as_deref(), Some("GD-2026-0001"));
    assert!(outcome.refund.is_none());
    assert!(
        !d.all_calls
            .iter()
            .any(|c| matches!(c, PlatformCall::CancelPayment(_)))
    );

    // Cancel while the confirmation is in flight and the platform times out: the confirmation
    // is deferred (the platform may have it), never reversed, and a refund is recorded.
    let mut d = Driver::start(plan(&data, "stm-full", FULL));
    let is_confirm = |c: &PlatformCall| matches!(c, PlatformCall::ConfirmPayment(_));
    d.run_until(
        |_, _| Answer::Success,
        |c, _| platform_success(c),
        is_confirm,
    );
    cancel(&mut d, 101);
    d.run(
        |_, _| Answer::Success,
        |c, _| match c {
            PlatformCall::ConfirmPayment(_) => {
                Err(PlatformError::new(ErrorClass::Retryable, "timeout", ""))
            }
            other => platform_success(other),
        },
    );
    assert!(!d.steps_sent().contains(&CommandName::Reverse));
    assert!(d.has(|e| matches!(e, JournalEntry::ConfirmationDeferred { .. })));
    assert!(d.has(|e| matches!(e, JournalEntry::RefundRequired { .. })));
    assert_eq!(
        d.outcome().and_then(|o| o.refund).map(|r| r.status),
        Some("pending".into())
    );
}

#[test]
fn close_cancels_the_running_item_and_ends_the_session() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    d.feed(Input::Close);
    assert!(d.ended);
    assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Cancelled));
}

#[test]
fn journal_entries_hide_personal_data_in_debug() {
    let data = data();
    let mut d = Driver::start(plan(&data, "stm-full", "户籍证明开具"));
    d.run_ok();
    let text = format!("{:?} {:?}", d.journal, d.all_calls);
    assert!(!text.contains("440106199001011234"), "{text}");
    assert!(!text.contains("张三"), "{text}");
}

/// The same engine with the platform side played by `MockPlatformApi`, called through
/// `platform::execute` as the daemon calls its real client: expectations pin how often each
/// call is made and with what.
#[cfg(feature = "mock")]
mod through_mockall {
    use super::*;

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn run_with(
        d: &mut Driver,
        api: &MockPlatformApi,
        terminal: impl FnMut(&Command, usize) -> Answer,
    ) {
        d.run(terminal, |call, _| block_on(execute(api, call.clone())));
    }

    fn licences_for(q: &LicenceQuery) -> Vec<ELicence> {
        q.licence_types
            .iter()
            .map(|t| ELicence {
                licence_id: format!("1.2.156.3005.2.{t}"),
                licence_type: t.clone(),
                name: "证照".into(),
            })
            .collect()
    }

    #[test]
    fn every_call_of_a_full_flow_is_made_once_with_the_right_arguments() {
        let data = data();
        let mut api = MockPlatformApi::new();
        api.expect_verify_identity()
            .times(1)
            .withf(|c| c.terminal_id == "T-0001" && c.id_number.expose() == "440106199001011234")
            .returning(|_| Ok(subject()));
        api.expect_lookup_licences()
            .times(1)
            .withf(|q| q.subject.0 == "sub-1" && q.licence_types.len() == 2)
            .returning(|q| Ok(licences_for(&q)));
        api.expect_create_application()
            .times(1)
            .withf(|a| {
                a.implementing_code.ends_with("440701009000")
                    && a.idempotency_key == "s-1/100/application"
            })
            .returning(|_| {
                Ok(ApplicationRef {
                    application_id: "APP-9".into(),
                })
            });
        api.expect_upload_material()
            .times(4)
            .withf(|u| u.application_id == "APP-9")
            .returning(|_| Ok(()));
        api.expect_issue_notice()
            .times(1)
            .withf(|r| r.amount_fen == 1000)
            .returning(|r| Ok(notice("N-FEE", r.amount_fen, NoticeStatus::Unpaid)));
        api.expect_confirm_payment()
            .times(1)
            .withf(|c| {
                c.notice_number == "N-FEE"
                    && c.bank_reference.as_deref() == Some("333111000125")
                    && c.idempotency_key == "s-1/100/confirm"
            })
            .returning(|_| {
                Ok(ConfirmedPayment {
                    receipt_number: "R-9".into(),
                })
            });
        api.expect_submit_application()
            .times(1)
            .withf(|s| s.application_id == "APP-9" && s.idempotency_key == "s-1/100/submit")
            .returning(|_| {
                Ok(Submitted {
                    case_number: "GD-9".into(),
                    promised_date: None,
                })
            });
        api.expect_evaluate()
            .times(1)
            .withf(|e| e.score == 1)
            .returning(|_| Ok(()));

        let mut d = Driver::start(plan(&data, "stm-full", FULL));
        run_with(&mut d, &api, |_, _| Answer::Success);
        let outcome = d.outcome().unwrap();
        assert_eq!(outcome.outcome, Outcome::Completed);
        assert_eq!(
            (
                outcome.case_number.as_deref(),
                outcome.receipt_number.as_deref()
            ),
            (Some("GD-9"), Some("R-9"))
        );
        api.checkpoint();
    }

    #[test]
    fn each_error_class_from_the_mock_takes_its_path() {
        let data = data();
        let fine = || plan(&data, "stm-full", "交通违法罚款缴纳");
        let base = |api: &mut MockPlatformApi| {
            api.expect_fetch_document().returning(|_| {
                Ok(Document {
                    media_type: "application/pdf".into(),
                    data: Sensitive::new(b"%PDF".to_vec()),
                    pages: 1,
                })
            });
            api.expect_evaluate().returning(|_| Ok(()));
        };

        // Retryable, then success: exactly two confirmations with one key.
        let mut api = MockPlatformApi::new();
        base(&mut api);
        api.expect_query_notice()
            .times(1)
            .returning(|n| Ok(notice(&n, 5000, NoticeStatus::Unpaid)));
        let mut seq = mockall::Sequence::new();
        api.expect_confirm_payment()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(PlatformError::new(ErrorClass::Retryable, "503", "busy")));
        api.expect_confirm_payment()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| {
                Ok(ConfirmedPayment {
                    receipt_number: "R".into(),
                })
            });
        let mut d = Driver::start(fine());
        run_with(&mut d, &api, |_, _| Answer::Success);
        assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Completed));
        api.checkpoint();

        // Unauthorised: not retried; deferred to store-and-forward.
        let mut api = MockPlatformApi::new();
        base(&mut api);
        api.expect_query_notice()
            .times(1)
            .returning(|n| Ok(notice(&n, 5000, NoticeStatus::Unpaid)));
        api.expect_confirm_payment().times(1).returning(|_| {
            Err(PlatformError::new(
                ErrorClass::Unauthorised,
                "401",
                "signature",
            ))
        });
        let mut d = Driver::start(fine());
        run_with(&mut d, &api, |_, _| Answer::Success);
        assert!(d.has(|e| matches!(e, JournalEntry::ConfirmationDeferred { .. })));
        api.checkpoint();

        // Final: reversed on the terminal, never confirmed again.
        let mut api = MockPlatformApi::new();
        base(&mut api);
        api.expect_query_notice()
            .times(1)
            .returning(|n| Ok(notice(&n, 5000, NoticeStatus::Unpaid)));
        api.expect_confirm_payment().times(1).returning(|_| {
            Err(PlatformError::new(
                ErrorClass::Final,
                "PAID",
                "already paid",
            ))
        });
        let mut d = Driver::start(fine());
        run_with(&mut d, &api, |_, _| Answer::Success);
        assert_eq!(
            d.outcome().and_then(|o| o.refund).map(|r| r.status),
            Some("reversed".into())
        );
        api.checkpoint();

        // Not found: the notice number is asked for again.
        let mut api = MockPlatformApi::new();
        base(&mut api);
        let mut seq = mockall::Sequence::new();
        api.expect_query_notice()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| {
                Err(PlatformError::new(
                    ErrorClass::NotFound,
                    "NOTICE",
                    "unknown",
                ))
            });
        api.expect_query_notice()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|n| Ok(notice(&n, 5000, NoticeStatus::Unpaid)));
        api.expect_confirm_payment().times(1).returning(|_| {
            Ok(ConfirmedPayment {
                receipt_number: "R".into(),
            })
        });
        let mut d = Driver::start(fine());
        run_with(&mut d, &api, |_, _| Answer::Success);
        assert_eq!(
            d.steps_sent()
                .iter()
                .filter(|n| **n == CommandName::Form)
                .count(),
            2
        );
        assert_eq!(d.outcome().map(|o| o.outcome), Some(Outcome::Completed));
        api.checkpoint();
    }
}
