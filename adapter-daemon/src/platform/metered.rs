//! A [`PlatformApi`] that times every call of the platform it wraps into the daemon's metrics
//! (`platform_call_seconds`, `platform_errors`), under the names the TSP sessions' calls have
//! there. The biller host's calls go through it; the TSP sessions' calls are counted from their
//! journal records instead (the same figures, and the record is the audit trail), so the two
//! never count one call twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use adapter_core::platform::{
    ApplicationRef, AppointmentSlot, Booking, BookingRequest, CancelledPayment, CaseStatus,
    ConfirmedPayment, Document, DocumentRequest, ELicence, Evaluation, IdentityCheck, LicenceQuery,
    MaterialUpload, NewApplication, NoticeRequest, PaymentCancellation, PaymentConfirmation,
    PaymentNotice, PlatformApi, PlatformError, QrIdentityCheck, ReconciliationReport, SlotQuery,
    Submission, Submitted, VerifiedIdentity,
};
use async_trait::async_trait;

use crate::metrics::Metrics;

/// The platform `inner`, its calls timed into `metrics`.
#[derive(Clone)]
pub struct MeteredPlatform {
    inner: Arc<dyn PlatformApi>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for MeteredPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredPlatform").finish_non_exhaustive()
    }
}

impl MeteredPlatform {
    pub fn new(inner: Arc<dyn PlatformApi>, metrics: Arc<Metrics>) -> MeteredPlatform {
        MeteredPlatform { inner, metrics }
    }

    async fn timed<T>(
        &self,
        call: &'static str,
        future: impl Future<Output = Result<T, PlatformError>>,
    ) -> Result<T, PlatformError> {
        let start = Instant::now();
        let result = future.await;
        self.metrics.platform_call(
            call,
            start.elapsed(),
            result.as_ref().err().map(|e| e.class),
        );
        result
    }
}

#[async_trait]
impl PlatformApi for MeteredPlatform {
    async fn verify_identity(
        &self,
        check: IdentityCheck,
    ) -> Result<VerifiedIdentity, PlatformError> {
        self.timed("verify_identity", self.inner.verify_identity(check))
            .await
    }

    async fn qr_identity(&self, check: QrIdentityCheck) -> Result<VerifiedIdentity, PlatformError> {
        self.timed("qr_identity", self.inner.qr_identity(check))
            .await
    }

    async fn lookup_licences(&self, query: LicenceQuery) -> Result<Vec<ELicence>, PlatformError> {
        self.timed("lookup_licences", self.inner.lookup_licences(query))
            .await
    }

    async fn create_application(
        &self,
        application: NewApplication,
    ) -> Result<ApplicationRef, PlatformError> {
        self.timed(
            "create_application",
            self.inner.create_application(application),
        )
        .await
    }

    async fn upload_material(&self, upload: MaterialUpload) -> Result<(), PlatformError> {
        self.timed("upload_material", self.inner.upload_material(upload))
            .await
    }

    async fn submit_application(&self, submission: Submission) -> Result<Submitted, PlatformError> {
        self.timed(
            "submit_application",
            self.inner.submit_application(submission),
        )
        .await
    }

    async fn query_notice(&self, notice_number: String) -> Result<PaymentNotice, PlatformError> {
        self.timed("query_notice", self.inner.query_notice(notice_number))
            .await
    }

    async fn issue_notice(&self, request: NoticeRequest) -> Result<PaymentNotice, PlatformError> {
        self.timed("issue_notice", self.inner.issue_notice(request))
            .await
    }

    async fn confirm_payment(
        &self,
        confirmation: PaymentConfirmation,
    ) -> Result<ConfirmedPayment, PlatformError> {
        self.timed("confirm_payment", self.inner.confirm_payment(confirmation))
            .await
    }

    async fn confirm_payments(
        &self,
        confirmations: Vec<PaymentConfirmation>,
    ) -> Result<Vec<Result<ConfirmedPayment, PlatformError>>, PlatformError> {
        self.timed(
            "confirm_payments",
            self.inner.confirm_payments(confirmations),
        )
        .await
    }

    async fn cancel_payment(
        &self,
        cancellation: PaymentCancellation,
    ) -> Result<CancelledPayment, PlatformError> {
        self.timed("cancel_payment", self.inner.cancel_payment(cancellation))
            .await
    }

    async fn fetch_document(&self, request: DocumentRequest) -> Result<Document, PlatformError> {
        self.timed("fetch_document", self.inner.fetch_document(request))
            .await
    }

    async fn evaluate(&self, evaluation: Evaluation) -> Result<(), PlatformError> {
        self.timed("evaluate", self.inner.evaluate(evaluation))
            .await
    }

    async fn appointment_slots(
        &self,
        query: SlotQuery,
    ) -> Result<Vec<AppointmentSlot>, PlatformError> {
        self.timed("appointment_slots", self.inner.appointment_slots(query))
            .await
    }

    async fn book_appointment(&self, booking: BookingRequest) -> Result<Booking, PlatformError> {
        self.timed("book_appointment", self.inner.book_appointment(booking))
            .await
    }

    async fn reconciliation_report(
        &self,
        date: String,
    ) -> Result<ReconciliationReport, PlatformError> {
        self.timed(
            "reconciliation_report",
            self.inner.reconciliation_report(date),
        )
        .await
    }

    async fn case_status(&self, case_number: String) -> Result<CaseStatus, PlatformError> {
        self.timed("case_status", self.inner.case_status(case_number))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapter_core::platform::{ErrorClass, MockPlatformApi, NoticeStatus};

    /// Each call through the wrapper is timed under its name, a failure counted by its class;
    /// a batch of confirmations is one call.
    #[test]
    fn calls_are_timed_and_failures_counted_by_class() {
        let mut inner = MockPlatformApi::new();
        inner.expect_query_notice().returning(|n| {
            Ok(PaymentNotice {
                notice_number: n,
                payee: "payee".into(),
                amount_fen: 100,
                due_date: None,
                status: NoticeStatus::Unpaid,
                qr_payload: None,
                receipt_number: None,
            })
        });
        inner.expect_confirm_payments().times(1).returning(|c| {
            Ok(c.iter()
                .map(|_| Err(PlatformError::new(ErrorClass::Final, "X", "no")))
                .collect())
        });
        inner
            .expect_cancel_payment()
            .returning(|_| Err(PlatformError::new(ErrorClass::Retryable, "BUSY", "busy")));
        let metrics = Arc::new(Metrics::new());
        let platform = MeteredPlatform::new(Arc::new(inner), Arc::clone(&metrics));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|_| unreachable!());
        runtime.block_on(async {
            for _ in 0..2 {
                assert!(platform.query_notice("N".into()).await.is_ok());
            }
            assert!(platform.confirm_payments(Vec::new()).await.is_ok());
            assert!(
                platform
                    .cancel_payment(PaymentCancellation {
                        idempotency_key: "k".into(),
                        notice_number: "N".into(),
                        receipt_number: "R".into(),
                        reason: "r".into(),
                    })
                    .await
                    .is_err()
            );
        });
        let stats = crate::journal::JournalStats::default();
        let text = metrics.render(0, &stats, 0);
        for line in [
            "stm_adapter_platform_call_seconds_count{call=\"query_notice\"} 2",
            "stm_adapter_platform_call_seconds_count{call=\"confirm_payments\"} 1",
            "stm_adapter_platform_call_seconds_count{call=\"cancel_payment\"} 1",
            "stm_adapter_platform_errors_total{call=\"cancel_payment\",class=\"Retryable\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("call=\"query_notice\",class"), "{text}");
    }
}
