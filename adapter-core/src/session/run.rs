//! One item's run: the steps in order, each with the platform calls it needs.
//!
//! Each step's `begin` is re-entrant: after every terminal completion or platform result it is
//! called again and does the next thing that step still needs (look licences up, ask the
//! terminal, create the application, upload, …) or moves to the next step.

use std::collections::{BTreeMap, VecDeque};

use adapter_protocols::tsp::{
    self, Base64Data, Command, CompletionCode, CompletionPayload, Message, Outcome, Sensitive,
};

use super::plan::{FeePlan, ItemPlan, PlannedMaterial, PlannedOutput, PlannedStep, wire_name};
use super::{CallId, Ctx, JournalEntry, TimerId};
use crate::catalogue::Delivery;
use crate::plan::StepKind;
use crate::platform::{
    AppointmentSlot, Booking, BookingRequest, DocumentRequest, ELicence, ErrorClass, Evaluation,
    IdentityCheck, LicenceQuery, MaterialContent, MaterialUpload, NewApplication, NoticeRequest,
    NoticeStatus, PaymentCancellation, PaymentConfirmation, PaymentMethod, PaymentNotice,
    PlatformCall, PlatformError, PlatformReply, QrIdentityCheck, SlotQuery, Submission, Submitted,
    VerifiedIdentity,
};

/// What the platform call was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Identify,
    LookupLicences,
    CreateApplication,
    Upload,
    Submit,
    QueryNotice,
    IssueNotice,
    CheckQr,
    Confirm,
    CancelPayment,
    FetchDocument(usize),
    Evaluate,
    Slots,
    Book,
}

impl Purpose {
    /// Calls whose result changes money or the application: a cancel waits for them.
    fn settles(self) -> bool {
        matches!(
            self,
            Purpose::Confirm
                | Purpose::Submit
                | Purpose::CheckQr
                | Purpose::CancelPayment
                | Purpose::Book
        )
    }
}

/// What the terminal is doing for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TerminalTask {
    Step(StepKind),
    Reverse,
}

#[derive(Debug)]
enum Wait {
    Idle,
    Terminal {
        request_id: u64,
        command: Command,
        task: TerminalTask,
        timer: Option<TimerId>,
    },
    Platform {
        call: CallId,
        purpose: Purpose,
        request: PlatformCall,
        attempt: u8,
    },
    Retry {
        timer: TimerId,
        purpose: Purpose,
        request: PlatformCall,
        attempt: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PayState {
    /// Taken on the terminal, not yet confirmed at the platform.
    Taken,
    Confirmed {
        receipt: String,
    },
    /// Confirmation handed to store-and-forward.
    Deferred,
    Reversed,
    RefundPending,
    Refunded {
        reference: String,
    },
}

#[derive(Debug, Clone)]
struct Payment {
    method: PaymentMethod,
    amount_fen: u64,
    notice_number: String,
    bank_reference: Option<String>,
    state: PayState,
}

#[derive(Debug)]
pub(crate) struct Run {
    start_request: u64,
    plan: ItemPlan,
    cursor: usize,
    wait: Wait,
    attempts: u8,
    identity: Option<VerifiedIdentity>,
    form: BTreeMap<String, Sensitive<String>>,
    licences: Option<Vec<ELicence>>,
    materials_collected: bool,
    uploads: VecDeque<(String, MaterialContent)>,
    signature: Option<Vec<u8>>,
    signature_uploaded: bool,
    application: Option<String>,
    submitted: Option<Submitted>,
    submit_shown: bool,
    notice: Option<PaymentNotice>,
    payment: Option<Payment>,
    /// The slots offered to the citizen, the one chosen, the booking made.
    slots: Option<Vec<AppointmentSlot>>,
    chosen_slot: Option<AppointmentSlot>,
    booking: Option<Booking>,
    /// Why Step.Appointment is sent again.
    appointment_prompt: Option<String>,
    documents: Vec<Option<crate::platform::Document>>,
    doc_cursor: usize,
    delivered: bool,
    score: Option<u8>,
    evaluated: bool,
    /// A cancel that arrived while a settling platform call was in flight.
    cancel_requested: Option<(Outcome, String)>,
    /// Cancelling: waiting for a reversal or a refund before ending with this outcome.
    ending: Option<(Outcome, String)>,
    finished: bool,
}

fn fen(amount: u64) -> String {
    format!("{}.{:02} 元", amount / 100, amount % 100)
}

fn decode<const N: usize>(data: &Base64Data<N>) -> Option<Vec<u8>> {
    data.decode()
}

impl Run {
    pub(crate) fn new(start_request: u64, plan: ItemPlan) -> Run {
        Run {
            start_request,
            plan,
            cursor: 0,
            wait: Wait::Idle,
            attempts: 0,
            identity: None,
            form: BTreeMap::new(),
            licences: None,
            materials_collected: false,
            uploads: VecDeque::new(),
            signature: None,
            signature_uploaded: false,
            application: None,
            submitted: None,
            submit_shown: false,
            notice: None,
            payment: None,
            slots: None,
            chosen_slot: None,
            booking: None,
            appointment_prompt: None,
            documents: Vec::new(),
            doc_cursor: 0,
            delivered: false,
            score: None,
            evaluated: false,
            cancel_requested: None,
            ending: None,
            finished: false,
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    pub(crate) fn pending_request_id(&self) -> Option<u64> {
        match &self.wait {
            Wait::Terminal { request_id, .. } => Some(*request_id),
            _ => None,
        }
    }

    /// The idempotency key of an effect of this item: the session, the item's request and the
    /// effect, in visible ASCII.
    fn key(&self, ctx: &Ctx<'_>, what: &str) -> String {
        format!("{}/{}/{}", ctx.session_id, self.start_request, what)
    }

    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.journal(JournalEntry::ItemStarted {
            code: self.plan.code.clone(),
            implementing_code: self.plan.implementing_code.clone(),
        });
        self.begin(ctx);
    }

    // ----- the steps -------------------------------------------------------------------------

    fn step(&self) -> Option<&PlannedStep> {
        self.plan.steps.get(self.cursor)
    }

    fn next_step(&mut self, ctx: &mut Ctx<'_>) {
        self.cursor += 1;
        self.attempts = 0;
        self.begin(ctx);
    }

    /// Continues after a platform result, unless a cancel is waiting.
    fn proceed(&mut self, ctx: &mut Ctx<'_>) {
        if let Some((outcome, message)) = self.cancel_requested.take() {
            self.cancel(ctx, outcome, &message);
        } else {
            self.begin(ctx);
        }
    }

    fn begin(&mut self, ctx: &mut Ctx<'_>) {
        if self.finished {
            return;
        }
        let Some(step) = self.step().cloned() else {
            self.finish(ctx, Outcome::Completed, None);
            return;
        };
        match step {
            PlannedStep::Identify { methods } => {
                self.ask(
                    ctx,
                    StepKind::Identify,
                    Command::Identify(tsp::StepIdentify {
                        methods,
                        prompt: None,
                    }),
                );
            }
            PlannedStep::Form { fields } => {
                self.ask(
                    ctx,
                    StepKind::Form,
                    Command::Form(tsp::StepForm {
                        fields,
                        errors: BTreeMap::new(),
                    }),
                );
            }
            PlannedStep::Materials {
                materials,
                can_scan,
            } => self.begin_materials(ctx, &materials, can_scan),
            PlannedStep::Sign => {
                if self.signature.is_none() {
                    self.ask(
                        ctx,
                        StepKind::Sign,
                        Command::Sign(tsp::StepSign {
                            title: "申请人承诺".to_owned(),
                            text: format!(
                                "本人申请办理“{}”，承诺所填信息和所交材料真实有效，如有虚假愿承担相应法律责任。",
                                self.plan.name
                            ),
                        }),
                    );
                } else if self.application.is_none() {
                    self.create_application(ctx);
                } else if !self.signature_uploaded {
                    let data = self.signature.clone().unwrap_or_default();
                    self.upload(
                        ctx,
                        "申请人签名",
                        MaterialContent::Image {
                            media_type: "image/png".to_owned(),
                            data: Sensitive::new(data),
                        },
                    );
                } else {
                    self.next_step(ctx);
                }
            }
            PlannedStep::Confirm => {
                let mut summary = vec![
                    tsp::SummaryLine {
                        label: "事项".to_owned(),
                        value: self.plan.name.clone(),
                    },
                    tsp::SummaryLine {
                        label: "实施机关".to_owned(),
                        value: self.plan.body.clone(),
                    },
                ];
                let fee = self.plan.steps.iter().find_map(|s| match s {
                    PlannedStep::Pay { fee, .. } => Some(fee.clone()),
                    _ => None,
                });
                match (&self.notice, fee) {
                    (Some(n), _) => {
                        summary.push(tsp::SummaryLine {
                            label: "缴款识别码".to_owned(),
                            value: n.notice_number.clone(),
                        });
                        summary.push(tsp::SummaryLine {
                            label: "金额".to_owned(),
                            value: fen(n.amount_fen),
                        });
                    }
                    (None, Some(FeePlan::Fixed(amount))) => {
                        summary.push(tsp::SummaryLine {
                            label: "费用".to_owned(),
                            value: fen(amount),
                        });
                    }
                    _ => {}
                }
                self.ask(
                    ctx,
                    StepKind::Confirm,
                    Command::Confirm(tsp::StepConfirm { summary }),
                );
            }
            PlannedStep::Appointment {
                division,
                from,
                days,
            } => self.begin_appointment(ctx, division, from, days),
            PlannedStep::Pay { fee, methods } => self.begin_pay(ctx, &fee, &methods),
            PlannedStep::Submit => {
                if self.application.is_none() {
                    self.create_application(ctx);
                } else if self.submitted.is_none() {
                    let request = PlatformCall::SubmitApplication(Submission {
                        idempotency_key: self.key(ctx, "submit"),
                        application_id: self.application.clone().unwrap_or_default(),
                    });
                    self.call(ctx, Purpose::Submit, request);
                } else if !self.submit_shown {
                    let s = self.submitted.clone().unwrap_or(Submitted {
                        case_number: String::new(),
                        promised_date: None,
                    });
                    self.ask(
                        ctx,
                        StepKind::Submit,
                        Command::Submit(tsp::StepSubmit {
                            case_number: s.case_number,
                            promised_date: s.promised_date,
                            message: "申请已提交，办理结果将通过短信和粤省事通知您".to_owned(),
                        }),
                    );
                } else {
                    self.next_step(ctx);
                }
            }
            PlannedStep::Deliver { outputs } => self.begin_deliver(ctx, &outputs),
            PlannedStep::Rate => {
                if self.score.is_none() {
                    let case_number = self.submitted.as_ref().map(|s| s.case_number.clone());
                    self.ask(
                        ctx,
                        StepKind::Rate,
                        Command::Rate(tsp::StepRate { case_number }),
                    );
                } else if !self.evaluated {
                    let request = PlatformCall::Evaluate(Evaluation {
                        reference: self.reference(),
                        score: self.score.unwrap_or(1),
                        text: None,
                        terminal_id: ctx.terminal_id.to_owned(),
                    });
                    self.call(ctx, Purpose::Evaluate, request);
                } else {
                    self.next_step(ctx);
                }
            }
        }
    }

    fn begin_materials(
        &mut self,
        ctx: &mut Ctx<'_>,
        materials: &[PlannedMaterial],
        can_scan: bool,
    ) {
        let licence_types: Vec<String> = materials
            .iter()
            .filter_map(|m| m.licence_type.clone())
            .collect();
        if self.licences.is_none() {
            match (&self.identity, licence_types.is_empty()) {
                (Some(identity), false) => {
                    let request = PlatformCall::LookupLicences(LicenceQuery {
                        subject: identity.subject.clone(),
                        licence_types,
                    });
                    self.call(ctx, Purpose::LookupLicences, request);
                    return;
                }
                _ => self.licences = Some(Vec::new()),
            }
        }
        if !self.materials_collected {
            let found = self.licences.clone().unwrap_or_default();
            let mut requests = Vec::new();
            for m in materials {
                let licence = m
                    .licence_type
                    .as_ref()
                    .and_then(|t| found.iter().find(|l| &l.licence_type == t));
                let source = match (licence, m.scan || can_scan) {
                    (Some(_), _) => "eLicence",
                    (None, true) => "scan",
                    (None, false) if m.mandatory => {
                        self.cancel(
                            ctx,
                            Outcome::Failed,
                            &format!("未找到所需的电子证照：{}", m.name),
                        );
                        return;
                    }
                    (None, false) => continue,
                };
                requests.push(tsp::MaterialRequest {
                    name: m.name.clone(),
                    mandatory: m.mandatory,
                    source: source.to_owned(),
                });
            }
            self.ask(
                ctx,
                StepKind::Materials,
                Command::Materials(tsp::StepMaterials {
                    materials: requests,
                }),
            );
            return;
        }
        if self.application.is_none() {
            self.create_application(ctx);
        } else if let Some((name, content)) = self.uploads.front().cloned() {
            self.upload(ctx, &name, content);
        } else {
            self.next_step(ctx);
        }
    }

    fn begin_pay(&mut self, ctx: &mut Ctx<'_>, fee: &FeePlan, methods: &[tsp::PayMethod]) {
        if self.notice.is_none() {
            match fee {
                FeePlan::Fixed(amount) => {
                    if self.application.is_none() {
                        self.create_application(ctx);
                    } else {
                        let request = PlatformCall::IssueNotice(NoticeRequest {
                            idempotency_key: self.key(ctx, "notice"),
                            application_id: self.application.clone().unwrap_or_default(),
                            amount_fen: *amount,
                        });
                        self.call(ctx, Purpose::IssueNotice, request);
                    }
                }
                FeePlan::PerNotice { .. } => self.cancel(ctx, Outcome::Failed, "缺少缴款书信息"),
            }
            return;
        }
        match self.payment.as_ref().map(|p| p.state.clone()) {
            None => {
                let Some(notice) = self.notice.clone() else {
                    return;
                };
                self.ask(
                    ctx,
                    StepKind::Pay,
                    Command::Pay(tsp::StepPay {
                        amount_fen: notice.amount_fen,
                        currency: "CNY".to_owned(),
                        payee: notice.payee.clone(),
                        methods: methods.to_vec(),
                        notice_number: Some(notice.notice_number.clone()),
                        qr_payload: methods
                            .contains(&tsp::PayMethod::Qr)
                            .then(|| notice.qr_payload.clone())
                            .flatten(),
                        prompt: None,
                    }),
                );
            }
            Some(PayState::Taken) => self.confirm_payment(ctx),
            Some(_) => self.next_step(ctx),
        }
    }

    /// Slots are looked up, the citizen chooses one, the engine books it. A slot that fills up
    /// meanwhile sends the citizen back to choose again, with fresh slots.
    fn begin_appointment(&mut self, ctx: &mut Ctx<'_>, division: String, from: String, days: u32) {
        if self.booking.is_some() {
            self.next_step(ctx);
            return;
        }
        let Some(slots) = self.slots.clone() else {
            // From the date the citizen asked for, if the form had one and it is not past.
            let asked = self
                .plan
                .steps
                .iter()
                .find_map(|s| match s {
                    PlannedStep::Form { fields } => fields
                        .iter()
                        .find(|f| f.kind == "date")
                        .map(|f| f.id.clone()),
                    _ => None,
                })
                .and_then(|id| self.form.get(&id))
                .map(|v| v.expose().trim().to_owned())
                .filter(|d| is_iso_date(d) && *d > from);
            let request = PlatformCall::AppointmentSlots(SlotQuery {
                implementing_code: self.plan.implementing_code.clone(),
                division,
                from: asked.unwrap_or(from),
                days,
            });
            self.call(ctx, Purpose::Slots, request);
            return;
        };
        if slots.is_empty() {
            self.cancel(ctx, Outcome::Failed, "近期没有可预约的时段，请改日再试");
            return;
        }
        let Some(slot) = self.chosen_slot.clone() else {
            let prompt = self.appointment_prompt.take();
            self.ask(
                ctx,
                StepKind::Appointment,
                Command::Appointment(tsp::StepAppointment {
                    slots: slots
                        .iter()
                        .map(|s| tsp::AppointmentSlot {
                            slot_id: s.slot_id.clone(),
                            hall: s.hall.clone(),
                            start: s.start.clone(),
                            end: s.end.clone(),
                            remaining: s.remaining,
                        })
                        .collect(),
                    prompt,
                }),
            );
            return;
        };
        let Some(identity) = &self.identity else {
            self.cancel(ctx, Outcome::Failed, "未完成身份核验，无法预约");
            return;
        };
        let request = PlatformCall::BookAppointment(BookingRequest {
            // One key per slot: choosing again after a full slot is a different booking.
            idempotency_key: self.key(ctx, &format!("booking/{}", short_hash(&slot.slot_id))),
            slot_id: slot.slot_id.clone(),
            subject: identity.subject.clone(),
        });
        self.call(ctx, Purpose::Book, request);
    }

    fn on_appointment_chosen(&mut self, ctx: &mut Ctx<'_>, choice: tsp::AppointmentChoice) {
        let chosen = self
            .slots
            .iter()
            .flatten()
            .find(|s| s.slot_id == choice.slot_id)
            .cloned();
        match chosen {
            Some(slot) => {
                self.chosen_slot = Some(slot);
                self.begin(ctx);
            }
            None => self.choose_again(ctx, "请从列出的时段中选择", false),
        }
    }

    /// Sends the citizen back to the slots (`fresh`: look them up again first).
    fn choose_again(&mut self, ctx: &mut Ctx<'_>, prompt: &str, fresh: bool) {
        self.attempts += 1;
        if self.attempts >= ctx.config.form_attempts {
            self.cancel(ctx, Outcome::Failed, "预约未成功，请稍后再试");
            return;
        }
        if fresh {
            self.slots = None;
        }
        self.chosen_slot = None;
        self.appointment_prompt = Some(prompt.to_owned());
        self.proceed(ctx);
    }

    fn begin_deliver(&mut self, ctx: &mut Ctx<'_>, outputs: &[PlannedOutput]) {
        if self.documents.len() < outputs.len() {
            self.documents.resize(outputs.len(), None);
        }
        while let Some(output) = outputs.get(self.doc_cursor) {
            if needs_document(output.delivery) {
                let mut form = self.form.clone();
                if let Some(slot) = &self.chosen_slot {
                    form.insert(
                        "appointment".to_owned(),
                        Sensitive::new(format!("{} {} 至 {}", slot.hall, slot.start, slot.end)),
                    );
                }
                let request = PlatformCall::FetchDocument(DocumentRequest {
                    reference: self.reference(),
                    result: output.result.clone(),
                    subject: self.identity.as_ref().map(|i| i.subject.clone()),
                    form,
                });
                self.call(ctx, Purpose::FetchDocument(self.doc_cursor), request);
                return;
            }
            self.doc_cursor += 1;
        }
        if self.delivered {
            self.next_step(ctx);
            return;
        }
        let orders = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let document = self.documents.get(i).cloned().flatten();
                let text = match (o.delivery, &document) {
                    (Delivery::Screen, Some(d)) if d.media_type.starts_with("text/") => {
                        Some(String::from_utf8_lossy(d.data.expose()).into_owned())
                    }
                    (Delivery::Screen, Some(_)) => Some(self.screen_summary()),
                    (Delivery::A4Print | Delivery::ReceiptPrint | Delivery::Screen, None) => {
                        Some("文书暂未生成，请稍后到窗口或在粤省事领取".to_owned())
                    }
                    (Delivery::ELicence, _) => Some("电子证照已发送至您的粤省事".to_owned()),
                    (Delivery::Post, _) => Some("结果将邮寄至您填写的地址".to_owned()),
                    (Delivery::Counter, _) => Some("请凭短信通知到窗口领取".to_owned()),
                    _ => None,
                };
                let printable = matches!(o.delivery, Delivery::A4Print | Delivery::ReceiptPrint);
                tsp::DeliveryOrder {
                    result: o.result.clone(),
                    kind: wire_name(&o.kind),
                    delivery: wire_name(&o.delivery),
                    document: document
                        .filter(|_| printable)
                        .and_then(|d| Base64Data::encode(d.data.expose()))
                        .map(Sensitive::new),
                    licence_id: None,
                    text,
                }
            })
            .collect();
        self.ask(
            ctx,
            StepKind::Deliver,
            Command::Deliver(tsp::StepDeliver { outputs: orders }),
        );
    }

    /// What a screen shows for a result whose document is a PDF.
    fn screen_summary(&self) -> String {
        match (&self.booking, &self.chosen_slot) {
            (Some(b), Some(slot)) => format!(
                "预约成功。预约号：{}；地点：{}；时间：{} 至 {}。请携带身份证按时前往。",
                b.booking_number, slot.hall, slot.start, slot.end
            ),
            _ => format!("业务编号：{}", self.reference()),
        }
    }

    fn reference(&self) -> String {
        self.submitted
            .as_ref()
            .map(|s| s.case_number.clone())
            .or_else(|| self.booking.as_ref().map(|b| b.booking_number.clone()))
            .or_else(|| self.application.clone())
            .or_else(|| self.notice.as_ref().map(|n| n.notice_number.clone()))
            .unwrap_or_else(|| self.plan.implementing_code.clone())
    }

    fn create_application(&mut self, ctx: &mut Ctx<'_>) {
        let Some(identity) = &self.identity else {
            self.cancel(ctx, Outcome::Failed, "未完成身份核验，无法受理申请");
            return;
        };
        let request = PlatformCall::CreateApplication(NewApplication {
            idempotency_key: self.key(ctx, "application"),
            subject: identity.subject.clone(),
            implementing_code: self.plan.implementing_code.clone(),
            terminal_id: ctx.terminal_id.to_owned(),
            form: self.form.clone(),
        });
        self.call(ctx, Purpose::CreateApplication, request);
    }

    fn upload(&mut self, ctx: &mut Ctx<'_>, name: &str, content: MaterialContent) {
        let request = PlatformCall::UploadMaterial(MaterialUpload {
            // Keys are ASCII (they travel in an HTTP header): the name is hashed, stably.
            idempotency_key: self.key(ctx, &format!("material/{}", short_hash(name))),
            application_id: self.application.clone().unwrap_or_default(),
            name: name.to_owned(),
            content,
        });
        self.call(ctx, Purpose::Upload, request);
    }

    fn confirm_payment(&mut self, ctx: &mut Ctx<'_>) {
        let Some(p) = &self.payment else { return };
        let request = PlatformCall::ConfirmPayment(PaymentConfirmation {
            idempotency_key: self.key(ctx, "confirm"),
            notice_number: p.notice_number.clone(),
            amount_fen: p.amount_fen,
            method: p.method,
            bank_reference: p.bank_reference.clone(),
            terminal_id: ctx.terminal_id.to_owned(),
        });
        self.call(ctx, Purpose::Confirm, request);
    }

    // ----- talking to the terminal and the platform --------------------------------------------

    fn ask(&mut self, ctx: &mut Ctx<'_>, step: StepKind, command: Command) {
        self.send_task(ctx, TerminalTask::Step(step), command);
    }

    fn send_task(&mut self, ctx: &mut Ctx<'_>, task: TerminalTask, command: Command) {
        let request_id = ctx.send_command(command.clone());
        if let TerminalTask::Step(step) = task {
            ctx.journal(JournalEntry::StepSent { request_id, step });
        }
        let timer = ctx
            .connected()
            .then(|| ctx.timer(ctx.config.step_timeout + ctx.config.grace));
        self.wait = Wait::Terminal {
            request_id,
            command,
            task,
            timer,
        };
    }

    fn call(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose, request: PlatformCall) {
        self.call_attempt(ctx, purpose, request, 0);
    }

    fn call_attempt(
        &mut self,
        ctx: &mut Ctx<'_>,
        purpose: Purpose,
        request: PlatformCall,
        attempt: u8,
    ) {
        let call = ctx.call(request.clone());
        self.wait = Wait::Platform {
            call,
            purpose,
            request,
            attempt,
        };
    }

    fn clear_wait(&mut self, ctx: &mut Ctx<'_>) {
        match std::mem::replace(&mut self.wait, Wait::Idle) {
            Wait::Terminal { timer: Some(t), .. } | Wait::Retry { timer: t, .. } => {
                ctx.cancel_timer(t)
            }
            _ => {}
        }
    }

    // ----- inputs ------------------------------------------------------------------------------

    pub(crate) fn on_terminal(&mut self, ctx: &mut Ctx<'_>, message: Message) {
        let (pending_id, task) = match &self.wait {
            Wait::Terminal {
                request_id, task, ..
            } => (Some(*request_id), Some(*task)),
            _ => (None, None),
        };
        match message {
            Message::Completion {
                request_id,
                name,
                code,
                error_description,
                payload,
            } => {
                let Some(task) = task.filter(|_| pending_id == Some(request_id)) else {
                    ctx.journal(JournalEntry::TerminalIgnored {
                        request_id,
                        reason: format!("completion of {name} that is not pending"),
                    });
                    return;
                };
                self.clear_wait(ctx);
                if let TerminalTask::Step(step) = task {
                    ctx.journal(JournalEntry::StepCompleted {
                        request_id,
                        step,
                        code,
                    });
                }
                match task {
                    TerminalTask::Reverse => self.on_reversed(ctx, code, payload),
                    TerminalTask::Step(step) => {
                        self.on_step_completed(ctx, step, code, error_description, payload)
                    }
                }
            }
            Message::Acknowledge {
                request_id,
                status: Some(status),
                ..
            } if pending_id == Some(request_id) => {
                self.clear_wait(ctx);
                let message = format!("终端拒绝了该步骤（{status:?}）");
                if task == Some(TerminalTask::Reverse) {
                    self.on_reversed(ctx, CompletionCode::InvalidCommand, None);
                } else {
                    self.cancel(ctx, Outcome::Failed, &message);
                }
            }
            // Accepting acknowledges and progress events change nothing.
            Message::Acknowledge { .. } | Message::Event { .. } | Message::Unsolicited(_) => {}
            Message::Command {
                request_id,
                command,
                ..
            } => {
                ctx.journal(JournalEntry::TerminalIgnored {
                    request_id,
                    reason: format!("{} is for the session, not the item", command.name()),
                });
            }
        }
    }

    fn on_step_completed(
        &mut self,
        ctx: &mut Ctx<'_>,
        step: StepKind,
        code: CompletionCode,
        error_description: Option<String>,
        payload: Option<CompletionPayload>,
    ) {
        if code != CompletionCode::Success {
            match (step, code) {
                // The service was rendered: a failed print or a skipped rating do not undo it.
                (StepKind::Deliver, CompletionCode::Canceled | CompletionCode::TimeOut)
                | (StepKind::Rate, _) => {
                    if step == StepKind::Deliver {
                        self.delivered = true;
                    } else {
                        self.score = Some(0);
                        self.evaluated = true;
                    }
                    self.begin(ctx);
                }
                (StepKind::Deliver, _) => {
                    ctx.journal(JournalEntry::Delivered {
                        result: "*".to_owned(),
                        delivery: "terminal".to_owned(),
                        status: format!("failed: {}", error_description.unwrap_or_default()),
                    });
                    self.delivered = true;
                    self.begin(ctx);
                }
                (_, CompletionCode::Canceled) => self.cancel(ctx, Outcome::Cancelled, "已取消"),
                (_, CompletionCode::TimeOut) => {
                    self.cancel(ctx, Outcome::TimedOut, "操作超时，业务已终止")
                }
                _ => self.cancel(ctx, Outcome::Failed, "终端无法完成该步骤"),
            }
            return;
        }
        match payload {
            Some(CompletionPayload::Identify(result)) => self.on_identified(ctx, result),
            Some(CompletionPayload::Form(result)) => self.on_form(ctx, result),
            Some(CompletionPayload::Materials(result)) => self.on_materials(ctx, result),
            Some(CompletionPayload::Sign(result)) => {
                self.signature = Some(result.signature.expose().decode().unwrap_or_default());
                self.begin(ctx);
            }
            Some(CompletionPayload::Confirm(result)) => {
                if result.confirmed {
                    self.next_step(ctx);
                } else {
                    self.cancel(ctx, Outcome::Cancelled, "您已取消办理");
                }
            }
            Some(CompletionPayload::Appointment(choice)) => self.on_appointment_chosen(ctx, choice),
            Some(CompletionPayload::Pay(result)) => self.on_paid(ctx, result),
            Some(CompletionPayload::Submit(_)) => {
                self.submit_shown = true;
                self.begin(ctx);
            }
            Some(CompletionPayload::Deliver(result)) => {
                for report in result.results {
                    ctx.journal(JournalEntry::Delivered {
                        result: report.result,
                        delivery: "terminal".to_owned(),
                        status: report.status,
                    });
                }
                self.delivered = true;
                self.begin(ctx);
            }
            Some(CompletionPayload::Rate(result)) => {
                ctx.journal(JournalEntry::Rated {
                    score: result.score,
                });
                self.score = Some(result.score);
                self.begin(ctx);
            }
            _ => self.cancel(ctx, Outcome::Failed, "终端返回的结果与步骤不符"),
        }
    }

    fn retry_identify(&mut self, ctx: &mut Ctx<'_>, prompt: &str) {
        self.attempts += 1;
        if self.attempts >= ctx.config.identify_attempts {
            self.cancel(ctx, Outcome::Failed, "身份核验未通过");
            return;
        }
        if let Some(PlannedStep::Identify { methods }) = self.step().cloned() {
            self.ask(
                ctx,
                StepKind::Identify,
                Command::Identify(tsp::StepIdentify {
                    methods,
                    prompt: Some(prompt.to_owned()),
                }),
            );
        }
    }

    fn on_identified(&mut self, ctx: &mut Ctx<'_>, result: tsp::IdentifyResult) {
        let request = match result.method {
            tsp::IdentifyMethod::IdCardFace => {
                let card = result.id_card;
                let chip_photo = card.as_ref().and_then(|c| decode(c.photo.expose()));
                let face = result.face.as_ref().and_then(|f| decode(f.expose()));
                match (card, chip_photo, face) {
                    (Some(card), Some(chip_photo), Some(face)) => {
                        PlatformCall::VerifyIdentity(IdentityCheck {
                            terminal_id: ctx.terminal_id.to_owned(),
                            id_number: card.id_number,
                            name: card.name,
                            chip_photo: Sensitive::new(chip_photo),
                            face: Sensitive::new(face),
                        })
                    }
                    _ => return self.retry_identify(ctx, "未读到完整的身份证信息和人像，请重试"),
                }
            }
            tsp::IdentifyMethod::QrCode => match result.qr_code {
                Some(code) => PlatformCall::QrIdentity(QrIdentityCheck {
                    terminal_id: ctx.terminal_id.to_owned(),
                    code,
                }),
                None => return self.retry_identify(ctx, "未读到二维码，请重试"),
            },
        };
        self.call(ctx, Purpose::Identify, request);
    }

    fn on_form(&mut self, ctx: &mut Ctx<'_>, result: tsp::FormResult) {
        let Some(PlannedStep::Form { fields }) = self.step().cloned() else {
            return;
        };
        let mut errors = BTreeMap::new();
        for f in &fields {
            let value = result
                .values
                .get(&f.id)
                .map(|v| v.expose().trim().to_owned())
                .unwrap_or_default();
            if f.required && value.is_empty() {
                errors.insert(f.id.clone(), "此项必填".to_owned());
            } else if !f.options.is_empty() && !value.is_empty() && !f.options.contains(&value) {
                errors.insert(f.id.clone(), "请从选项中选择".to_owned());
            }
        }
        if let Some(unknown) = result
            .values
            .keys()
            .find(|k| !fields.iter().any(|f| &f.id == *k))
        {
            errors.insert(unknown.clone(), "未知的字段".to_owned());
        }
        if !errors.is_empty() {
            self.resend_form(ctx, fields, errors);
            return;
        }
        self.form = result.values;
        let notice_field = self.plan.steps.iter().find_map(|s| match s {
            PlannedStep::Pay {
                fee: FeePlan::PerNotice { field },
                ..
            } => Some(field.clone()),
            _ => None,
        });
        match notice_field.and_then(|f| self.form.get(&f).map(|v| v.expose().trim().to_owned())) {
            Some(number) => self.call(ctx, Purpose::QueryNotice, PlatformCall::QueryNotice(number)),
            None => self.next_step(ctx),
        }
    }

    fn resend_form(
        &mut self,
        ctx: &mut Ctx<'_>,
        fields: Vec<tsp::FormField>,
        errors: BTreeMap<String, String>,
    ) {
        self.attempts += 1;
        if self.attempts >= ctx.config.form_attempts {
            self.cancel(ctx, Outcome::Failed, "填写的信息有误，请核对后重新办理");
            return;
        }
        self.ask(
            ctx,
            StepKind::Form,
            Command::Form(tsp::StepForm { fields, errors }),
        );
    }

    fn on_materials(&mut self, ctx: &mut Ctx<'_>, result: tsp::MaterialsResult) {
        let Some(PlannedStep::Materials { materials, .. }) = self.step().cloned() else {
            return;
        };
        let found = self.licences.clone().unwrap_or_default();
        let mut uploads = VecDeque::new();
        for m in &materials {
            let licence = m
                .licence_type
                .as_ref()
                .and_then(|t| found.iter().find(|l| &l.licence_type == t));
            if let Some(l) = licence {
                uploads.push_back((
                    m.name.clone(),
                    MaterialContent::ELicence {
                        licence_id: l.licence_id.clone(),
                    },
                ));
                continue;
            }
            let scan = result.scans.iter().find(|s| s.name == m.name);
            match scan.and_then(|s| decode(s.image.expose())) {
                Some(data) => uploads.push_back((
                    m.name.clone(),
                    MaterialContent::Image {
                        media_type: "image/jpeg".to_owned(),
                        data: Sensitive::new(data),
                    },
                )),
                None if m.mandatory => {
                    self.attempts += 1;
                    if self.attempts >= ctx.config.form_attempts {
                        self.cancel(ctx, Outcome::Failed, &format!("缺少必要材料：{}", m.name));
                    } else {
                        self.materials_collected = false;
                        self.begin(ctx);
                    }
                    return;
                }
                None => {}
            }
        }
        self.uploads = uploads;
        self.materials_collected = true;
        self.begin(ctx);
    }

    fn on_paid(&mut self, ctx: &mut Ctx<'_>, result: tsp::PayResult) {
        let Some(notice) = self.notice.clone() else {
            return;
        };
        let (method, amount, bank_reference, masked_pan) =
            match (result.method, result.card, result.cash_fen) {
                (tsp::PayMethod::Card, Some(card), _) => (
                    PaymentMethod::Card,
                    card.amount_fen,
                    Some(card.rrn),
                    Some(card.masked_pan),
                ),
                (tsp::PayMethod::Cash, _, Some(cash)) => (PaymentMethod::Cash, cash, None, None),
                (tsp::PayMethod::Qr, _, _) => {
                    self.call(
                        ctx,
                        Purpose::CheckQr,
                        PlatformCall::QueryNotice(notice.notice_number.clone()),
                    );
                    return;
                }
                _ => {
                    self.cancel(ctx, Outcome::Failed, "支付结果不完整");
                    return;
                }
            };
        let idempotency_key = self.key(ctx, "confirm");
        ctx.journal(JournalEntry::PaymentTaken {
            method,
            notice_number: notice.notice_number.clone(),
            amount_fen: amount,
            bank_reference: bank_reference.clone(),
            masked_pan,
            idempotency_key,
        });
        self.payment = Some(Payment {
            method,
            amount_fen: amount,
            notice_number: notice.notice_number.clone(),
            bank_reference,
            state: PayState::Taken,
        });
        if amount != notice.amount_fen {
            self.cancel(ctx, Outcome::Failed, "支付金额与应缴金额不符，款项将退回");
            return;
        }
        self.confirm_payment(ctx);
    }

    fn on_reversed(
        &mut self,
        ctx: &mut Ctx<'_>,
        code: CompletionCode,
        payload: Option<CompletionPayload>,
    ) {
        let reversed = code == CompletionCode::Success
            && matches!(
                payload,
                Some(CompletionPayload::Reverse(tsp::ReverseResult {
                    reversed: true
                }))
            );
        if let Some(p) = self.payment.as_mut() {
            if reversed {
                ctx.journal(JournalEntry::PaymentReversed {
                    bank_reference: p.bank_reference.clone().unwrap_or_default(),
                });
                p.state = PayState::Reversed;
            } else {
                ctx.journal(JournalEntry::RefundRequired {
                    notice_number: p.notice_number.clone(),
                    amount_fen: p.amount_fen,
                    bank_reference: p.bank_reference.clone(),
                    reason: "the terminal could not reverse the card payment".to_owned(),
                });
                p.state = PayState::RefundPending;
            }
        }
        let (outcome, message) = self
            .ending
            .take()
            .unwrap_or((Outcome::Failed, String::new()));
        self.finish(ctx, outcome, Some(message));
    }

    pub(crate) fn on_platform(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: CallId,
        result: Result<PlatformReply, PlatformError>,
    ) {
        let (purpose, request, attempt) = match &self.wait {
            Wait::Platform {
                call,
                purpose,
                request,
                attempt,
            } if *call == id => (*purpose, request.clone(), *attempt),
            _ => return,
        };
        self.wait = Wait::Idle;
        match result {
            Ok(reply) => self.on_reply(ctx, purpose, reply),
            Err(error) => {
                ctx.journal(JournalEntry::PlatformFailed {
                    call: request.name(),
                    class: error.class,
                    code: error.code.clone(),
                    attempt,
                });
                if error.is_retryable()
                    && usize::from(attempt) < ctx.config.backoff.len()
                    && self.cancel_requested.is_none()
                {
                    let after = ctx
                        .config
                        .backoff
                        .get(usize::from(attempt))
                        .copied()
                        .unwrap_or_default();
                    let timer = ctx.timer(after);
                    self.wait = Wait::Retry {
                        timer,
                        purpose,
                        request,
                        attempt: attempt + 1,
                    };
                    return;
                }
                match self.cancel_requested.take() {
                    Some((outcome, message)) => {
                        if purpose == Purpose::Confirm
                            && error.class != ErrorClass::Final
                            && error.class != ErrorClass::NotFound
                        {
                            // The platform may have the confirmation: never reverse then.
                            self.defer_confirmation(ctx);
                        }
                        self.cancel(ctx, outcome, &message);
                    }
                    None => self.on_failure(ctx, purpose, &error),
                }
            }
        }
    }

    fn defer_confirmation(&mut self, ctx: &mut Ctx<'_>) {
        let key = format!("{}/{}/confirm", ctx.session_id, self.start_request);
        if let Some(p) = self.payment.as_mut() {
            ctx.journal(JournalEntry::ConfirmationDeferred {
                notice_number: p.notice_number.clone(),
                amount_fen: p.amount_fen,
                bank_reference: p.bank_reference.clone(),
                idempotency_key: key,
            });
            p.state = PayState::Deferred;
        }
    }

    fn on_reply(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose, reply: PlatformReply) {
        match (purpose, reply) {
            (Purpose::Identify, PlatformReply::Identity(identity)) => {
                ctx.journal(JournalEntry::IdentityVerified {
                    subject: identity.subject.0.clone(),
                    id_number: identity.id_number.clone(),
                });
                self.identity = Some(identity);
                if self.cancel_requested.is_some() {
                    self.proceed(ctx);
                } else {
                    self.next_step(ctx);
                }
            }
            (Purpose::LookupLicences, PlatformReply::Licences(licences)) => {
                self.licences = Some(licences);
                self.proceed(ctx);
            }
            (Purpose::CreateApplication, PlatformReply::Application(a)) => {
                ctx.journal(JournalEntry::ApplicationCreated {
                    application_id: a.application_id.clone(),
                });
                self.application = Some(a.application_id);
                self.proceed(ctx);
            }
            (Purpose::Upload, PlatformReply::Uploaded) => {
                let name = if self.step_is(StepKind::Materials) {
                    self.uploads.pop_front().map(|(n, _)| n).unwrap_or_default()
                } else {
                    self.signature_uploaded = true;
                    "申请人签名".to_owned()
                };
                ctx.journal(JournalEntry::MaterialUploaded {
                    application_id: self.application.clone().unwrap_or_default(),
                    name,
                });
                self.proceed(ctx);
            }
            (Purpose::Submit, PlatformReply::Submitted(s)) => {
                ctx.journal(JournalEntry::ApplicationSubmitted {
                    application_id: self.application.clone().unwrap_or_default(),
                    case_number: s.case_number.clone(),
                });
                self.submitted = Some(s);
                self.proceed(ctx);
            }
            (Purpose::QueryNotice, PlatformReply::Notice(n)) => match n.status {
                NoticeStatus::Unpaid => {
                    ctx.journal(JournalEntry::NoticeFound {
                        notice_number: n.notice_number.clone(),
                        amount_fen: n.amount_fen,
                    });
                    self.notice = Some(n);
                    if self.cancel_requested.is_some() {
                        self.proceed(ctx);
                    } else {
                        self.next_step(ctx);
                    }
                }
                NoticeStatus::Paid => self.cancel(ctx, Outcome::Failed, "该缴款书已缴清，无需再缴"),
                NoticeStatus::Cancelled => self.cancel(ctx, Outcome::Failed, "该缴款书已作废"),
            },
            (Purpose::IssueNotice, PlatformReply::Notice(n)) => {
                ctx.journal(JournalEntry::NoticeFound {
                    notice_number: n.notice_number.clone(),
                    amount_fen: n.amount_fen,
                });
                self.notice = Some(n);
                self.proceed(ctx);
            }
            (Purpose::CheckQr, PlatformReply::Notice(n)) => {
                if n.status == NoticeStatus::Paid {
                    let receipt = n.receipt_number.clone().unwrap_or_default();
                    ctx.journal(JournalEntry::PaymentTaken {
                        method: PaymentMethod::Qr,
                        notice_number: n.notice_number.clone(),
                        amount_fen: n.amount_fen,
                        bank_reference: None,
                        masked_pan: None,
                        idempotency_key: self.key(ctx, "confirm"),
                    });
                    ctx.journal(JournalEntry::PaymentConfirmed {
                        notice_number: n.notice_number.clone(),
                        receipt_number: receipt.clone(),
                    });
                    self.payment = Some(Payment {
                        method: PaymentMethod::Qr,
                        amount_fen: n.amount_fen,
                        notice_number: n.notice_number.clone(),
                        bank_reference: None,
                        state: PayState::Confirmed { receipt },
                    });
                    self.proceed(ctx);
                } else {
                    self.qr_not_paid(ctx);
                }
            }
            (Purpose::Confirm, PlatformReply::Confirmed(c)) => {
                if let Some(p) = self.payment.as_mut() {
                    ctx.journal(JournalEntry::PaymentConfirmed {
                        notice_number: p.notice_number.clone(),
                        receipt_number: c.receipt_number.clone(),
                    });
                    p.state = PayState::Confirmed {
                        receipt: c.receipt_number,
                    };
                }
                self.proceed(ctx);
            }
            (Purpose::CancelPayment, PlatformReply::Cancelled(c)) => {
                if let Some(p) = self.payment.as_mut() {
                    ctx.journal(JournalEntry::PaymentCancelled {
                        notice_number: p.notice_number.clone(),
                        refund_reference: c.refund_reference.clone(),
                    });
                    p.state = PayState::Refunded {
                        reference: c.refund_reference,
                    };
                }
                let (outcome, message) = self
                    .ending
                    .take()
                    .unwrap_or((Outcome::Failed, String::new()));
                self.finish(ctx, outcome, Some(message));
            }
            (Purpose::FetchDocument(i), PlatformReply::Document(d)) => {
                if let Some(slot) = self.documents.get_mut(i) {
                    *slot = Some(d);
                }
                self.doc_cursor = i + 1;
                self.proceed(ctx);
            }
            (Purpose::Evaluate, PlatformReply::Evaluated) => {
                self.evaluated = true;
                self.proceed(ctx);
            }
            (Purpose::Slots, PlatformReply::Slots(mut slots)) => {
                slots.sort_by(|a, b| (&a.start, &a.hall).cmp(&(&b.start, &b.hall)));
                self.slots = Some(slots);
                self.proceed(ctx);
            }
            (Purpose::Book, PlatformReply::Booked(booking)) => {
                let slot = self.chosen_slot.clone();
                ctx.journal(JournalEntry::AppointmentBooked {
                    booking_number: booking.booking_number.clone(),
                    slot_id: slot.as_ref().map(|s| s.slot_id.clone()).unwrap_or_default(),
                    start: slot.map(|s| s.start).unwrap_or_default(),
                });
                self.booking = Some(booking);
                self.proceed(ctx);
            }
            (purpose, _) => self.on_failure(
                ctx,
                purpose,
                &PlatformError::new(
                    ErrorClass::Final,
                    "unexpected-reply",
                    "the reply does not answer the call",
                ),
            ),
        }
    }

    fn step_is(&self, kind: StepKind) -> bool {
        self.step().is_some_and(|s| s.kind() == kind)
    }

    fn qr_not_paid(&mut self, ctx: &mut Ctx<'_>) {
        if let Some((outcome, message)) = self.cancel_requested.take() {
            self.cancel(ctx, outcome, &message);
            return;
        }
        self.attempts += 1;
        if self.attempts >= ctx.config.qr_checks {
            self.cancel(ctx, Outcome::Failed, "未收到付款，业务已终止");
            return;
        }
        let (Some(PlannedStep::Pay { methods, .. }), Some(notice)) =
            (self.step().cloned(), self.notice.clone())
        else {
            return;
        };
        self.ask(
            ctx,
            StepKind::Pay,
            Command::Pay(tsp::StepPay {
                amount_fen: notice.amount_fen,
                currency: "CNY".to_owned(),
                payee: notice.payee,
                methods,
                notice_number: Some(notice.notice_number),
                qr_payload: notice.qr_payload,
                prompt: Some("尚未收到付款，请在手机上完成支付后再确认".to_owned()),
            }),
        );
    }

    fn on_failure(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose, error: &PlatformError) {
        let unavailable = matches!(
            error.class,
            ErrorClass::Retryable | ErrorClass::Unauthorised | ErrorClass::BadResponse
        );
        match purpose {
            Purpose::Identify if !unavailable => {
                ctx.journal(JournalEntry::IdentityRefused {
                    attempt: self.attempts + 1,
                    code: error.code.clone(),
                });
                self.retry_identify(ctx, "身份核验未通过，请重试");
            }
            Purpose::Identify => {
                self.cancel(ctx, Outcome::Failed, "身份核验服务暂不可用，请稍后再试")
            }
            Purpose::LookupLicences => {
                self.licences = Some(Vec::new());
                self.proceed(ctx);
            }
            Purpose::QueryNotice if !unavailable => {
                if let Some(PlannedStep::Form { fields }) = self.step().cloned() {
                    let field = self.plan.steps.iter().find_map(|s| match s {
                        PlannedStep::Pay {
                            fee: FeePlan::PerNotice { field },
                            ..
                        } => Some(field.clone()),
                        _ => None,
                    });
                    let errors = field
                        .into_iter()
                        .map(|f| (f, "未找到该缴款识别码，请核对".to_owned()))
                        .collect();
                    self.resend_form(ctx, fields, errors);
                }
            }
            Purpose::QueryNotice => {
                self.cancel(ctx, Outcome::Failed, "缴款查询服务暂不可用，请稍后再试")
            }
            Purpose::CheckQr => self.qr_not_paid(ctx),
            Purpose::Confirm if unavailable => {
                // The bank took the money and the platform is unreachable: store-and-forward
                // confirms it later, with the same idempotency key.
                self.defer_confirmation(ctx);
                self.proceed(ctx);
            }
            Purpose::Confirm => self.cancel(ctx, Outcome::Failed, "缴款确认失败，款项将退回"),
            Purpose::CancelPayment => {
                if let Some(p) = self.payment.as_mut() {
                    ctx.journal(JournalEntry::RefundRequired {
                        notice_number: p.notice_number.clone(),
                        amount_fen: p.amount_fen,
                        bank_reference: p.bank_reference.clone(),
                        reason: format!("cancellation at the platform failed: {}", error.code),
                    });
                    p.state = PayState::RefundPending;
                }
                let (outcome, message) = self
                    .ending
                    .take()
                    .unwrap_or((Outcome::Failed, String::new()));
                self.finish(ctx, outcome, Some(message));
            }
            Purpose::FetchDocument(i) => {
                self.doc_cursor = i + 1;
                self.proceed(ctx);
            }
            Purpose::Evaluate => {
                self.evaluated = true;
                self.proceed(ctx);
            }
            Purpose::CreateApplication | Purpose::Upload | Purpose::IssueNotice => {
                self.cancel(ctx, Outcome::Failed, "申请受理服务暂不可用，请稍后再试")
            }
            Purpose::Submit => self.cancel(ctx, Outcome::Failed, "申请提交失败"),
            Purpose::Slots | Purpose::Book if unavailable => {
                self.cancel(ctx, Outcome::Failed, "预约服务暂不可用，请稍后再试")
            }
            Purpose::Slots => self.cancel(ctx, Outcome::Failed, "该事项暂不能预约，请到窗口咨询"),
            Purpose::Book => match error.code.as_str() {
                "SLOT_FULL" | "SLOT_PASSED" | "SLOT_NOT_FOUND" => {
                    self.choose_again(ctx, "该时段已约满或已过，请重新选择", true)
                }
                "ALREADY_BOOKED" => {
                    self.cancel(ctx, Outcome::Failed, "您已预约该时段，无需重复预约")
                }
                _ => self.cancel(ctx, Outcome::Failed, "预约未成功，请到窗口咨询"),
            },
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, id: TimerId) {
        match &self.wait {
            Wait::Terminal {
                timer: Some(t),
                task,
                ..
            } if *t == id => {
                // The terminal said nothing in time: as if it had completed with timeOut.
                let task = *task;
                self.wait = Wait::Idle;
                match task {
                    TerminalTask::Reverse => self.on_reversed(ctx, CompletionCode::TimeOut, None),
                    TerminalTask::Step(step) => self.on_step_completed(
                        ctx,
                        step,
                        CompletionCode::TimeOut,
                        Some("no completion from the terminal".to_owned()),
                        None,
                    ),
                }
            }
            Wait::Retry {
                timer,
                purpose,
                request,
                attempt,
            } if *timer == id => {
                let (purpose, request, attempt) = (*purpose, request.clone(), *attempt);
                self.call_attempt(ctx, purpose, request, attempt);
            }
            _ => {}
        }
    }

    pub(crate) fn on_disconnected(&mut self, ctx: &mut Ctx<'_>) {
        if let Wait::Terminal { timer, .. } = &mut self.wait
            && let Some(t) = timer.take()
        {
            ctx.cancel_timer(t);
        }
    }

    pub(crate) fn on_resumed(&mut self, ctx: &mut Ctx<'_>) {
        let resend = match &self.wait {
            Wait::Terminal {
                request_id,
                command,
                ..
            } => Some((*request_id, command.clone())),
            _ => None,
        };
        if let Some((request_id, command)) = resend {
            let timeout_ms = u64::try_from(ctx.config.step_timeout.as_millis()).unwrap_or(u64::MAX);
            ctx.send(Message::Command {
                request_id,
                timeout_ms: Some(timeout_ms),
                command,
            });
            let t = ctx.timer(ctx.config.step_timeout + ctx.config.grace);
            if let Wait::Terminal { timer, .. } = &mut self.wait {
                *timer = Some(t);
            }
        }
    }

    // ----- ending ------------------------------------------------------------------------------

    fn service_rendered(&self) -> bool {
        if self.plan.submits() {
            self.submitted.is_some()
        } else {
            matches!(
                self.payment.as_ref().map(|p| &p.state),
                Some(PayState::Confirmed { .. } | PayState::Deferred)
            )
        }
    }

    /// Ends the item early (cancel, timeout, failure). Money taken for a service not rendered is
    /// reversed (card, not yet confirmed), cancelled at the platform (confirmed) or recorded as a
    /// refund to make (the rest).
    pub(crate) fn cancel(&mut self, ctx: &mut Ctx<'_>, outcome: Outcome, message: &str) {
        if self.finished || self.ending.is_some() {
            return;
        }
        if let Wait::Platform { purpose, .. } = &self.wait
            && purpose.settles()
        {
            self.cancel_requested = Some((outcome, message.to_owned()));
            return;
        }
        self.clear_wait(ctx);
        let rendered = self.service_rendered();
        let Some(p) = self.payment.clone() else {
            self.finish(ctx, outcome, Some(message.to_owned()));
            return;
        };
        match p.state {
            PayState::Taken if p.method == PaymentMethod::Card && ctx.connected() => {
                self.ending = Some((outcome, message.to_owned()));
                self.send_task(
                    ctx,
                    TerminalTask::Reverse,
                    Command::Reverse(tsp::StepReverse {
                        rrn: p.bank_reference.clone().unwrap_or_default(),
                        amount_fen: p.amount_fen,
                        reason: message.to_owned(),
                    }),
                );
            }
            PayState::Taken => {
                self.refund_required(ctx, "the payment was taken but the item did not complete");
                self.finish(ctx, outcome, Some(message.to_owned()));
            }
            PayState::Confirmed { receipt } if !rendered => {
                self.ending = Some((outcome, message.to_owned()));
                let request = PlatformCall::CancelPayment(PaymentCancellation {
                    idempotency_key: self.key(ctx, "cancel-payment"),
                    notice_number: p.notice_number.clone(),
                    receipt_number: receipt,
                    reason: message.to_owned(),
                });
                self.call(ctx, Purpose::CancelPayment, request);
            }
            PayState::Deferred if !rendered => {
                self.refund_required(
                    ctx,
                    "the confirmation is deferred but the item did not complete",
                );
                self.finish(ctx, outcome, Some(message.to_owned()));
            }
            _ => self.finish(ctx, outcome, Some(message.to_owned())),
        }
    }

    fn refund_required(&mut self, ctx: &mut Ctx<'_>, reason: &str) {
        if let Some(p) = self.payment.as_mut() {
            ctx.journal(JournalEntry::RefundRequired {
                notice_number: p.notice_number.clone(),
                amount_fen: p.amount_fen,
                bank_reference: p.bank_reference.clone(),
                reason: reason.to_owned(),
            });
            p.state = PayState::RefundPending;
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, outcome: Outcome, message: Option<String>) {
        if self.finished {
            return;
        }
        self.clear_wait(ctx);
        self.finished = true;
        let refund = self.payment.as_ref().and_then(|p| {
            let (status, reference) = match &p.state {
                PayState::Reversed => ("reversed", p.bank_reference.clone().unwrap_or_default()),
                PayState::RefundPending => ("pending", p.notice_number.clone()),
                PayState::Refunded { reference } => ("pending", reference.clone()),
                _ => return None,
            };
            Some(tsp::Refund {
                status: status.to_owned(),
                amount_fen: p.amount_fen,
                reference,
            })
        });
        let receipt_number = self.payment.as_ref().and_then(|p| match &p.state {
            PayState::Confirmed { receipt } => Some(receipt.clone()),
            _ => None,
        });
        let case_number = self.submitted.as_ref().map(|s| s.case_number.clone());
        let booking_number = self.booking.as_ref().map(|b| b.booking_number.clone());
        ctx.journal(JournalEntry::ItemEnded {
            outcome,
            case_number: case_number.clone(),
            receipt_number: receipt_number.clone(),
            refund: refund.as_ref().map(|r| r.status.clone()),
        });
        ctx.send(Message::success(
            self.start_request,
            CompletionPayload::ItemStart(tsp::ItemOutcome {
                outcome,
                case_number,
                receipt_number,
                booking_number,
                refund,
                message: message.filter(|m| !m.is_empty()),
            }),
        ));
    }
}

fn needs_document(delivery: Delivery) -> bool {
    matches!(
        delivery,
        Delivery::A4Print | Delivery::ReceiptPrint | Delivery::Screen
    )
}

/// 16 hex characters of SHA-256: a stable ASCII stand-in for a name in a key.
fn short_hash(text: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `YYYY-MM-DD`, by shape (the platform checks the date itself).
fn is_iso_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}
