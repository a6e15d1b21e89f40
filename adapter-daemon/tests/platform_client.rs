#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
//! The platform client against the sandbox platform over real HTTPS on 127.0.0.1: every
//! operation, both signature algorithms, retries and idempotency under injected faults, the
//! circuit breaker, and bad answers turned into typed errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use adapter_core::platform::{
    BookingRequest, DocumentRequest, ErrorClass, Evaluation, IdentityCheck, LicenceQuery,
    MaterialContent, MaterialUpload, NewApplication, NoticeRequest, NoticeStatus,
    PaymentCancellation, PaymentConfirmation, PaymentMethod, PlatformApi, PlatformError,
    QrIdentityCheck, SlotQuery, SubjectRef, Submission,
};
use adapter_core::shipped::{DataSet, shipped};
use adapter_daemon::pki::DevCa;
use adapter_daemon::platform::breaker::BreakerPolicy;
use adapter_daemon::platform::client::{CatalogueSync, RetryPolicy};
use adapter_daemon::platform::signing::{SigningKey, VerifyingKey};
use adapter_daemon::platform::wire::ApplicationStatus;
use adapter_daemon::platform::{ClientConfig, Operation, PlatformClient};
use adapter_daemon::sandbox::{self, Fault, Sandbox, SandboxData, SandboxOptions, portrait};
use adapter_protocols::tsp::Sensitive;

const HMAC_APP: &str = "BANK-GD-0001";
const HMAC_SECRET: &str = "stm-adapter-sandbox-secret";
const SM2_APP: &str = "BANK-GD-0002";
/// GM/T 0003.5 Annex A's example key: the bank's in fixtures/sandbox/sandbox.toml.
const SM2_BANK_KEY: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
const SM2_PLATFORM_KEY: &str = "cd049890075b8cdd0b813d27f7bab2de2b385b148e82959a532072ae8c94f772";

const ZHANG_WEI: &str = "440106198503151014";
const NOTICE: &str = "44010026110000012345";

struct Platform {
    sandbox: Sandbox,
    base: url::Url,
    ca_pem: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Platform {
    let data = Arc::new(DataSet::load(&shipped()).unwrap());
    let today = time::OffsetDateTime::now_utc().date();
    let sandbox_data = SandboxData::load(&sandbox::shipped(), today).unwrap();
    let sandbox = Sandbox::new(data, &sandbox_data, SandboxOptions::default());
    let ca = DevCa::generate().unwrap();
    let cert = ca.server(&["127.0.0.1"]).unwrap();
    let tls = adapter_daemon::tls::open_server_config(
        cert.certificate_pem.as_bytes(),
        cert.key_pem.as_bytes(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = sandbox.clone();
    tokio::spawn(async move {
        server
            .serve(listener, Some(tls), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Platform {
        sandbox,
        base: format!("https://127.0.0.1:{port}/gsp/v1").parse().unwrap(),
        ca_pem: ca.ca.certificate_pem,
        _stop: stop,
    }
}

impl Platform {
    fn config(&self) -> ClientConfig {
        let key = SigningKey::hmac(HMAC_SECRET.as_bytes()).unwrap();
        let mut config =
            ClientConfig::new(self.base.clone(), HMAC_APP, key.clone(), key.verifier());
        config.tls =
            Some(adapter_daemon::tls::client_config(self.ca_pem.as_bytes(), None).unwrap());
        config.retry = RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
        };
        config
    }

    fn sm2_config(&self) -> ClientConfig {
        let platform = SigningKey::sm2_hex(SM2_PLATFORM_KEY).unwrap().verifier();
        ClientConfig {
            app_id: SM2_APP.into(),
            signing_key: SigningKey::sm2_hex(SM2_BANK_KEY).unwrap(),
            platform_key: platform,
            ..self.config()
        }
    }

    fn client(&self) -> PlatformClient {
        PlatformClient::new(self.config()).unwrap()
    }
}

fn identity_check(id: &str, name: &str, face: Vec<u8>) -> IdentityCheck {
    IdentityCheck {
        terminal_id: "STM-GZ-0001".into(),
        id_number: Sensitive::new(id.into()),
        name: Sensitive::new(name.into()),
        chip_photo: Sensitive::new(portrait(id)),
        face: Sensitive::new(face),
    }
}

fn confirmation(key: &str) -> PaymentConfirmation {
    PaymentConfirmation {
        idempotency_key: key.into(),
        notice_number: NOTICE.into(),
        amount_fen: 20000,
        method: PaymentMethod::Card,
        bank_reference: Some("633206000123".into()),
        terminal_id: "STM-GZ-0001".into(),
    }
}

fn assert_error(
    result: Result<impl std::fmt::Debug, PlatformError>,
    class: ErrorClass,
    code: &str,
) -> PlatformError {
    let error = result.expect_err("an error");
    assert_eq!((error.class, error.code.as_str()), (class, code), "{error}");
    error
}

/// An item that takes appointments and its implementation in Guangzhou's Tianhe district.
fn appointment_item() -> (String, String) {
    let data = DataSet::load(&shipped()).unwrap();
    let catalogue = &data.catalogue;
    catalogue
        .implementations()
        .iter()
        .find(|i| {
            i.division.to_string().starts_with("4401")
                && catalogue
                    .item(i.code.basic().as_str())
                    .is_some_and(|it| it.appointment)
        })
        .map(|i| (i.code.as_str().to_owned(), i.division.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_over_https_with_hmac() {
    let p = start().await;
    let client = p.client();

    // Identity: chip and face; a stranger's face is refused; the app's QR code.
    let id = client
        .verify_identity(identity_check(ZHANG_WEI, "张伟", portrait(ZHANG_WEI)))
        .await
        .unwrap();
    assert_eq!(id.subject, SubjectRef("SUBJ-0001".into()));
    assert_eq!(id.name.expose(), "张伟");
    assert_error(
        client
            .verify_identity(identity_check(
                ZHANG_WEI,
                "张伟",
                portrait("440106199007202024"),
            ))
            .await,
        ErrorClass::Final,
        "FACE_MISMATCH",
    );
    assert_error(
        client
            .verify_identity(identity_check("440106199001011233", "张伟", vec![1, 2, 3]))
            .await,
        ErrorClass::NotFound,
        "CITIZEN_NOT_FOUND",
    );
    let qr = client
        .qr_identity(QrIdentityCheck {
            terminal_id: "STM-GZ-0001".into(),
            code: Sensitive::new("YSS1-2B8D41F09A6C3E75".into()),
        })
        .await
        .unwrap();
    assert_eq!(qr.subject.0, "SUBJ-0002");

    // Catalogue sync with an ETag.
    let CatalogueSync::Changed { etag, snapshot } = client.sync_catalogue(None).await.unwrap()
    else {
        panic!("the first sync has content");
    };
    assert!(snapshot.items.len() > 1000, "{}", snapshot.items.len());
    assert_eq!(
        client.sync_catalogue(Some(&etag)).await.unwrap(),
        CatalogueSync::NotModified
    );

    // E-licences.
    let licences = client
        .lookup_licences(LicenceQuery {
            subject: id.subject.clone(),
            licence_types: vec![
                "111000009000000146002".into(),
                "111000009000000221001".into(),
            ],
        })
        .await
        .unwrap();
    assert_eq!(licences.len(), 2);
    adapter_core::ids::LicenceId::parse(&licences[0].licence_id).unwrap();

    // An application: create, materials, submit, status advancing.
    let (code, division) = appointment_item();
    let application = client
        .create_application(NewApplication {
            idempotency_key: "S-1/1/create".into(),
            subject: id.subject.clone(),
            implementing_code: code.clone(),
            terminal_id: "STM-GZ-0001".into(),
            form: BTreeMap::from([("phone".into(), Sensitive::new("13800138000".into()))]),
        })
        .await
        .unwrap();
    client
        .upload_material(MaterialUpload {
            idempotency_key: "S-1/1/material/1".into(),
            application_id: application.application_id.clone(),
            name: "居民户口簿".into(),
            content: MaterialContent::ELicence {
                licence_id: licences[0].licence_id.clone(),
            },
        })
        .await
        .unwrap();
    client
        .upload_material(MaterialUpload {
            idempotency_key: "S-1/1/material/2".into(),
            application_id: application.application_id.clone(),
            name: "申请表".into(),
            content: MaterialContent::Image {
                media_type: "image/jpeg".into(),
                data: Sensitive::new(vec![0xff, 0xd8, 0xff, 0xe0, 0, 0x10]),
            },
        })
        .await
        .unwrap();
    let submitted = client
        .submit_application(Submission {
            idempotency_key: "S-1/1/submit".into(),
            application_id: application.application_id.clone(),
        })
        .await
        .unwrap();
    assert!(submitted.case_number.starts_with("GD"));
    assert!(submitted.promised_date.is_some());
    // The same application by its case number, as a bank switch asks (390000).
    let case = client
        .case_status(submitted.case_number.clone())
        .await
        .unwrap();
    assert_eq!(case.case_number, submitted.case_number);
    assert_eq!(case.implementing_code, code);
    assert_eq!(case.stage, adapter_core::platform::CaseStage::Submitted);
    assert_error(
        client.case_status("GD19990101000000".into()).await,
        ErrorClass::NotFound,
        "CASE_NOT_FOUND",
    );
    let status = client
        .application_status(&application.application_id)
        .await
        .unwrap();
    assert_eq!(status.status, ApplicationStatus::Submitted);
    assert_eq!(status.materials, ["居民户口簿", "申请表"]);
    p.sandbox.advance_clock(time::Duration::minutes(5));
    let status = client
        .application_status(&application.application_id)
        .await
        .unwrap();
    assert_eq!(status.status, ApplicationStatus::Completed);

    // A fee notice for the application, and a notice paid and cancelled.
    let issued = client
        .issue_notice(NoticeRequest {
            idempotency_key: "S-1/1/notice".into(),
            application_id: application.application_id.clone(),
            amount_fen: 1000,
        })
        .await
        .unwrap();
    assert_eq!(
        (issued.status, issued.amount_fen),
        (NoticeStatus::Unpaid, 1000)
    );
    let notice = client.query_notice(NOTICE.into()).await.unwrap();
    assert_eq!(
        (notice.amount_fen, notice.status),
        (20000, NoticeStatus::Unpaid)
    );
    let receipt = client
        .confirm_payment(confirmation("S-1/2/confirm"))
        .await
        .unwrap();
    let paid = client.query_notice(NOTICE.into()).await.unwrap();
    assert_eq!(paid.status, NoticeStatus::Paid);
    assert_eq!(
        paid.receipt_number.as_deref(),
        Some(receipt.receipt_number.as_str())
    );
    let today = p
        .sandbox
        .now()
        .to_offset(adapter_core::calendar::CST)
        .date()
        .to_string();
    let report = client.reconciliation_report(today.clone()).await.unwrap();
    assert!(
        report
            .payments
            .iter()
            .any(|r| r.receipt_number == receipt.receipt_number && !r.cancelled)
    );
    let refund = client
        .cancel_payment(PaymentCancellation {
            idempotency_key: "S-1/2/cancel".into(),
            notice_number: NOTICE.into(),
            receipt_number: receipt.receipt_number.clone(),
            reason: "dispensing failed".into(),
        })
        .await
        .unwrap();
    assert!(refund.refund_reference.starts_with("RF-"));
    let report = client.reconciliation_report(today).await.unwrap();
    assert!(
        report
            .payments
            .iter()
            .any(|r| r.receipt_number == receipt.receipt_number && r.cancelled)
    );

    // A document to print: a real PDF.
    let document = client
        .fetch_document(DocumentRequest {
            reference: submitted.case_number.clone(),
            result: "户籍证明".into(),
            subject: Some(id.subject.clone()),
            form: BTreeMap::from([("purpose".into(), Sensitive::new("入学".into()))]),
        })
        .await
        .unwrap();
    assert_eq!(document.media_type, "application/pdf");
    assert!(document.data.expose().starts_with(b"%PDF-"));
    assert_eq!(document.pages, 1);

    // A rating, appointment slots and a booking.
    client
        .evaluate(Evaluation {
            reference: submitted.case_number.clone(),
            score: 5,
            text: Some(Sensitive::new("很方便".into())),
            terminal_id: "STM-GZ-0001".into(),
        })
        .await
        .unwrap();
    let from = (p.sandbox.now() + time::Duration::days(1))
        .date()
        .to_string();
    let slots = client
        .appointment_slots(SlotQuery {
            implementing_code: code,
            division,
            from,
            days: 7,
        })
        .await
        .unwrap();
    assert!(!slots.is_empty(), "a week has working days");
    let booking = client
        .book_appointment(BookingRequest {
            idempotency_key: "S-1/3/book".into(),
            slot_id: slots[0].slot_id.clone(),
            subject: id.subject.clone(),
        })
        .await
        .unwrap();
    assert!(booking.booking_number.starts_with("BK-"));
    assert_error(
        client
            .book_appointment(BookingRequest {
                idempotency_key: "S-1/3/book-again".into(),
                slot_id: slots[0].slot_id.clone(),
                subject: id.subject,
            })
            .await,
        ErrorClass::Final,
        "ALREADY_BOOKED",
    );
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sm2_signed_calls_and_answers() {
    let p = start().await;
    let client = PlatformClient::new(p.sm2_config()).unwrap();
    let id = client
        .verify_identity(identity_check(ZHANG_WEI, "张伟", portrait(ZHANG_WEI)))
        .await
        .unwrap();
    assert_eq!(id.subject.0, "SUBJ-0001");
    client
        .confirm_payment(confirmation("sm2-confirm-1"))
        .await
        .unwrap();
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 1);

    // The wrong platform key: every answer fails its signature check.
    let mut config = p.sm2_config();
    config.platform_key = SigningKey::sm2_hex(SM2_BANK_KEY).unwrap().verifier();
    let wrong = PlatformClient::new(config).unwrap();
    assert_error(
        wrong.query_notice(NOTICE.into()).await,
        ErrorClass::BadResponse,
        "BAD_SIGNATURE",
    );

    // A bank key the platform does not know.
    let mut config = p.sm2_config();
    config.signing_key = SigningKey::sm2_hex(SM2_PLATFORM_KEY).unwrap();
    let stranger = PlatformClient::new(config).unwrap();
    assert_error(
        stranger.query_notice(NOTICE.into()).await,
        ErrorClass::Unauthorised,
        "SIGNATURE_INVALID",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_with_the_same_key_and_has_one_effect() {
    let p = start().await;
    let client = p.client();
    p.sandbox
        .inject(Operation::ConfirmPayment, Fault::LostAnswer);
    p.sandbox
        .inject(Operation::ConfirmPayment, Fault::Unavailable);
    let before = p.sandbox.requests_seen();
    let receipt = client
        .confirm_payment(confirmation("S-9/1/confirm"))
        .await
        .unwrap();
    assert_eq!(
        p.sandbox.requests_seen() - before,
        3,
        "two failures, then the replay"
    );
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 1);
    assert_eq!(
        p.sandbox.payments_recorded(),
        2,
        "the fixture's paid notice and this one"
    );

    // The same key again (the daemon's store-and-forward after a crash): the same receipt.
    let again = client
        .confirm_payment(confirmation("S-9/1/confirm"))
        .await
        .unwrap();
    assert_eq!(again, receipt);
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 1);

    // Another key for a paid notice is a conflict, not a second payment.
    assert_error(
        client.confirm_payment(confirmation("S-9/2/confirm")).await,
        ErrorClass::Final,
        "NOTICE_ALREADY_PAID",
    );
}

/// A confirmation of the sandbox's load-test notices (100 fen each).
fn load_confirmation(n: u32, key: &str) -> PaymentConfirmation {
    PaymentConfirmation {
        notice_number: format!("440100269900000{n:05}"),
        amount_fen: 100,
        ..confirmation(key)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_in_one_call_are_each_taken_once_under_their_own_keys() {
    let p = start().await;
    let client = p.client();
    let alone = client
        .confirm_payment(load_confirmation(1, "B-1/1/confirm"))
        .await
        .unwrap();
    let batch = vec![
        // Sent alone before: its first receipt again.
        load_confirmation(1, "B-1/1/confirm"),
        load_confirmation(2, "B-1/2/confirm"),
        // Refused as it would be alone, without holding up the others.
        PaymentConfirmation {
            amount_fen: 99,
            ..load_confirmation(3, "B-1/3/confirm")
        },
        // The notice the second pays, under another key.
        load_confirmation(2, "B-1/4/confirm"),
        // Against the contract (a space in the bank's reference): refused by the client as
        // the platform would refuse it alone, and not sent, so the others go through.
        PaymentConfirmation {
            bank_reference: Some("63320 600".into()),
            ..load_confirmation(5, "B-1/5/confirm")
        },
        load_confirmation(6, "B-1/6/confirm"),
    ];
    // The first answer is lost after the platform acted: the call is retried as a whole.
    p.sandbox
        .inject(Operation::ConfirmPayments, Fault::LostAnswer);
    let answers = client.confirm_payments(batch.clone()).await.unwrap();
    assert_eq!(answers.len(), 6);
    assert_eq!(answers[0], Ok(alone));
    let second = answers[1].clone().unwrap();
    assert_ne!(second, answers[0].clone().unwrap());
    assert_error(answers[2].clone(), ErrorClass::Final, "AMOUNT_MISMATCH");
    assert_error(answers[3].clone(), ErrorClass::Final, "NOTICE_ALREADY_PAID");
    assert_error(answers[4].clone(), ErrorClass::Final, "BAD_REQUEST");
    assert!(answers[5].is_ok());
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 3);

    // The batch again (store-and-forward after a crash): the same answers, nothing recorded.
    let again = client.confirm_payments(batch).await.unwrap();
    assert_eq!(again[1], Ok(second.clone()));
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 3);
    // One of the batch's confirmations, sent alone: the receipt the batch got.
    assert_eq!(
        client
            .confirm_payment(load_confirmation(2, "B-1/2/confirm"))
            .await
            .unwrap(),
        second
    );
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_without_confirm_payments_gets_the_confirmations_one_by_one() {
    let p = start().await;
    let client = p.client();
    // A platform of an earlier contract: 404 to the batch call, before anything happens.
    p.sandbox.inject(Operation::ConfirmPayments, Fault::Absent);
    let batch = vec![
        load_confirmation(11, "A-1/11/confirm"),
        PaymentConfirmation {
            amount_fen: 99,
            ..load_confirmation(12, "A-1/12/confirm")
        },
        PaymentConfirmation {
            bank_reference: Some("63320 600".into()),
            ..load_confirmation(13, "A-1/13/confirm")
        },
        load_confirmation(14, "A-1/14/confirm"),
    ];
    let answers = client.confirm_payments(batch.clone()).await.unwrap();
    assert_eq!(answers.len(), 4);
    let first = answers[0].clone().unwrap();
    assert_error(answers[1].clone(), ErrorClass::Final, "AMOUNT_MISMATCH");
    // Refused by the client, as in a batch: never sent.
    assert_error(answers[2].clone(), ErrorClass::Final, "BAD_REQUEST");
    assert!(answers[3].is_ok());
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 2);

    // The platform has the operation now (upgraded): the batch under the same keys is the
    // same payments, their first receipts.
    let again = client.confirm_payments(batch).await.unwrap();
    assert_eq!(again[0], Ok(first));
    assert_eq!(again[3], answers[3]);
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_answer_times_out_and_the_retry_gets_the_first_receipt() {
    let p = start().await;
    let mut config = p.config();
    config.call_timeout = Duration::from_millis(400);
    let client = PlatformClient::new(config).unwrap();
    p.sandbox.inject(
        Operation::ConfirmPayment,
        Fault::Hang(Duration::from_secs(3)),
    );
    let receipt = client
        .confirm_payment(confirmation("S-8/1/confirm"))
        .await
        .unwrap();
    assert!(receipt.receipt_number.starts_with("R-"));
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_the_limit_and_final_errors_are_not_retried() {
    let p = start().await;
    let client = p.client();
    for _ in 0..3 {
        p.sandbox.inject(Operation::QueryNotice, Fault::Unavailable);
    }
    let before = p.sandbox.requests_seen();
    assert_error(
        client.query_notice(NOTICE.into()).await,
        ErrorClass::Retryable,
        "INJECTED_UNAVAILABLE",
    );
    assert_eq!(p.sandbox.requests_seen() - before, 3, "max_attempts");

    let before = p.sandbox.requests_seen();
    assert_error(
        client.query_notice("44010000000000000000".into()).await,
        ErrorClass::NotFound,
        "NOTICE_NOT_FOUND",
    );
    assert_eq!(
        p.sandbox.requests_seen() - before,
        1,
        "a 404 is not retried"
    );

    // Maintenance: Retry-After (60 s) is beyond the deadline, so no retry.
    p.sandbox.force_maintenance(Some(true));
    let before = p.sandbox.requests_seen();
    assert_error(
        client.query_notice(NOTICE.into()).await,
        ErrorClass::Retryable,
        "MAINTENANCE",
    );
    assert_eq!(p.sandbox.requests_seen() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_repeated_failures_and_a_probe_closes_it() {
    let p = start().await;
    let mut config = p.config();
    config.retry.max_attempts = 1;
    config.breaker = BreakerPolicy {
        failure_threshold: 3,
        open_for: Duration::from_millis(300),
    };
    let client = PlatformClient::new(config).unwrap();
    for _ in 0..3 {
        p.sandbox.inject(Operation::QueryNotice, Fault::Unavailable);
        assert_error(
            client.query_notice(NOTICE.into()).await,
            ErrorClass::Retryable,
            "INJECTED_UNAVAILABLE",
        );
    }
    let before = p.sandbox.requests_seen();
    assert_error(
        client.query_notice(NOTICE.into()).await,
        ErrorClass::Retryable,
        "CIRCUIT_OPEN",
    );
    assert_eq!(
        p.sandbox.requests_seen(),
        before,
        "an open breaker sends nothing"
    );
    // Other operations still go through.
    client
        .reconciliation_report("2026-11-20".into())
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(350)).await;
    client.query_notice(NOTICE.into()).await.unwrap();
    client.query_notice(NOTICE.into()).await.unwrap();
    assert!(client.breakers().open_operations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_become_typed_errors() {
    let p = start().await;
    let mut config = p.config();
    config.retry.max_attempts = 1;
    config.call_timeout = Duration::from_millis(500);
    let client = PlatformClient::new(config).unwrap();

    p.sandbox
        .inject(Operation::QueryNotice, Fault::BadSignature);
    assert_error(
        client.query_notice(NOTICE.into()).await,
        ErrorClass::BadResponse,
        "BAD_SIGNATURE",
    );

    p.sandbox.inject(Operation::QueryNotice, Fault::WrongSchema);
    let error = assert_error(
        client.query_notice(NOTICE.into()).await,
        ErrorClass::BadResponse,
        "BAD_SCHEMA",
    );
    assert!(error.message.contains("queryNotice"), "{error}");

    p.sandbox.inject(
        Operation::QueryNotice,
        Fault::SlowBody(Duration::from_secs(5)),
    );
    assert_error(
        client.query_notice(NOTICE.into()).await,
        ErrorClass::Retryable,
        "TIMEOUT",
    );

    // A confirmation whose answer cannot be trusted: BadResponse, which the session engine
    // defers rather than reverses; the sandbox did record it once.
    p.sandbox
        .inject(Operation::ConfirmPayment, Fault::BadSignature);
    assert_error(
        client.confirm_payment(confirmation("S-7/1/confirm")).await,
        ErrorClass::BadResponse,
        "BAD_SIGNATURE",
    );
    assert_eq!(p.sandbox.effects(Operation::ConfirmPayment), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_configuration_are_checked() {
    let p = start().await;
    let mut config = p.config();
    config.signing_key = SigningKey::hmac(b"not-the-sandbox-secret").unwrap();
    let client = PlatformClient::new(config).unwrap();
    // The platform cannot sign a refusal with a key the caller does not share, so the 401 is
    // taken as it is: Unauthorised.
    let error = assert_error(
        client.query_notice(NOTICE.into()).await,
        ErrorClass::Unauthorised,
        "SIGNATURE_INVALID",
    );
    assert!(!error.to_string().contains("secret"));

    let mut config = p.config();
    config.app_id = "BANK-UNKNOWN".into();
    assert_error(
        PlatformClient::new(config)
            .unwrap()
            .query_notice(NOTICE.into())
            .await,
        ErrorClass::Unauthorised,
        "APP_UNKNOWN",
    );

    // Plain HTTP only to loopback; HTTPS needs the platform's CA; one algorithm both ways.
    let mut config = p.config();
    config.base_url = "http://gsp.example.gov.cn/gsp/v1".parse().unwrap();
    assert!(PlatformClient::new(config).is_err());
    let mut config = p.config();
    config.tls = None;
    assert!(PlatformClient::new(config).is_err());
    let mut config = p.config();
    config.platform_key = VerifyingKey::sm2_hex(
        &SigningKey::sm2_hex(SM2_PLATFORM_KEY)
            .unwrap()
            .verifier()
            .public_hex()
            .unwrap(),
    )
    .unwrap();
    assert!(PlatformClient::new(config).is_err());

    // A client that does not trust the sandbox's CA cannot connect.
    let mut config = p.config();
    config.tls = Some(
        adapter_daemon::tls::client_config(
            DevCa::generate().unwrap().ca.certificate_pem.as_bytes(),
            None,
        )
        .unwrap(),
    );
    config.retry.max_attempts = 1;
    let error = PlatformClient::new(config)
        .unwrap()
        .query_notice(NOTICE.into())
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Retryable, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_refuses_unsigned_stale_and_replayed_requests() {
    use adapter_daemon::platform::signing::{self, RequestParts};
    let p = start().await;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(
            adapter_daemon::tls::client_config(p.ca_pem.as_bytes(), None).unwrap(),
        )
        .build()
        .unwrap();
    let url = format!("{}/notices/{NOTICE}", p.base);
    let code = |body: String| {
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(code(response.text().await.unwrap()), "SIGNATURE_MISSING");

    let key = SigningKey::hmac(HMAC_SECRET.as_bytes()).unwrap();
    let signed = |timestamp: String, nonce: &'static str| {
        let path = format!("/gsp/v1/notices/{NOTICE}");
        let parts = RequestParts {
            method: "GET",
            path: &path,
            query: "",
            app_id: HMAC_APP,
            timestamp: &timestamp,
            nonce,
            idempotency_key: "",
            body: b"",
        };
        let signature = key
            .sign(&parts.canonical(signing::Algorithm::HmacSha256))
            .unwrap();
        http.get(&url)
            .header("x-app-id", HMAC_APP)
            .header("x-timestamp", timestamp)
            .header("x-nonce", nonce)
            .header("x-signature-method", "HMAC-SHA256")
            .header("x-signature", signature)
    };
    let stale = signing::timestamp(time::OffsetDateTime::now_utc() - time::Duration::minutes(10));
    let response = signed(stale, "0123456789abcdef0123").send().await.unwrap();
    assert_eq!(code(response.text().await.unwrap()), "TIMESTAMP_SKEW");

    let now = signing::timestamp(time::OffsetDateTime::now_utc());
    let response = signed(now.clone(), "fedcba9876543210fedc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = signed(now, "fedcba9876543210fedc").send().await.unwrap();
    assert_eq!(code(response.text().await.unwrap()), "NONCE_REPLAYED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_carry_personal_data() {
    let p = start().await;
    let client = p.client();
    let mut errors = Vec::new();
    errors.push(
        client
            .verify_identity(identity_check(ZHANG_WEI, "李四", portrait(ZHANG_WEI)))
            .await
            .unwrap_err(),
    );
    errors.push(
        client
            .verify_identity(identity_check(
                "440106198503151015",
                "张伟",
                portrait(ZHANG_WEI),
            ))
            .await
            .unwrap_err(),
    );
    for e in &errors {
        let text = format!("{e} {e:?}");
        for secret in ["440106198503151014", "440106198503151015", "张伟", "李四"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    assert_eq!(errors[0].code, "NAME_MISMATCH");
    assert_eq!(errors[1].code, "CITIZEN_NOT_FOUND");
}
