//! The government-service platform over HTTPS: the contract's bodies ([`wire`]), its signatures
//! ([`signing`]), and the production client ([`client::PlatformClient`]) that implements
//! [`adapter_core::platform::PlatformApi`]. docs/platform-api.md and docs/openapi.yaml are the
//! contract; the sandbox (`crate::sandbox`) serves it.

pub mod breaker;
pub mod client;
pub mod metered;
pub mod signing;
pub mod wire;

pub use client::{ClientConfig, PlatformClient};

/// The operations of the contract, by their OpenAPI `operationId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    VerifyIdentity,
    QrIdentity,
    SyncCatalogue,
    LookupLicences,
    CreateApplication,
    ApplicationStatus,
    CaseStatus,
    UploadMaterial,
    SubmitApplication,
    IssueNotice,
    QueryNotice,
    ConfirmPayment,
    ConfirmPayments,
    CancelPayment,
    RenderDocument,
    Evaluate,
    AppointmentSlots,
    BookAppointment,
    ReconciliationReport,
}

impl Operation {
    pub const ALL: [Operation; 19] = [
        Operation::VerifyIdentity,
        Operation::QrIdentity,
        Operation::SyncCatalogue,
        Operation::LookupLicences,
        Operation::CreateApplication,
        Operation::ApplicationStatus,
        Operation::CaseStatus,
        Operation::UploadMaterial,
        Operation::SubmitApplication,
        Operation::IssueNotice,
        Operation::QueryNotice,
        Operation::ConfirmPayment,
        Operation::ConfirmPayments,
        Operation::CancelPayment,
        Operation::RenderDocument,
        Operation::Evaluate,
        Operation::AppointmentSlots,
        Operation::BookAppointment,
        Operation::ReconciliationReport,
    ];

    /// The OpenAPI `operationId`.
    pub fn id(self) -> &'static str {
        match self {
            Operation::VerifyIdentity => "verifyIdentity",
            Operation::QrIdentity => "qrIdentity",
            Operation::SyncCatalogue => "syncCatalogue",
            Operation::LookupLicences => "lookupLicences",
            Operation::CreateApplication => "createApplication",
            Operation::ApplicationStatus => "applicationStatus",
            Operation::CaseStatus => "caseStatus",
            Operation::UploadMaterial => "uploadMaterial",
            Operation::SubmitApplication => "submitApplication",
            Operation::IssueNotice => "issueNotice",
            Operation::QueryNotice => "queryNotice",
            Operation::ConfirmPayment => "confirmPayment",
            Operation::ConfirmPayments => "confirmPayments",
            Operation::CancelPayment => "cancelPayment",
            Operation::RenderDocument => "renderDocument",
            Operation::Evaluate => "evaluate",
            Operation::AppointmentSlots => "appointmentSlots",
            Operation::BookAppointment => "bookAppointment",
            Operation::ReconciliationReport => "reconciliationReport",
        }
    }

    pub fn from_id(id: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.id() == id)
    }

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Operation::SyncCatalogue
            | Operation::LookupLicences
            | Operation::ApplicationStatus
            | Operation::CaseStatus
            | Operation::QueryNotice
            | Operation::AppointmentSlots
            | Operation::ReconciliationReport => "GET",
            _ => "POST",
        }
    }

    /// The path template under [`wire::BASE_PATH`], in axum's `{name}` syntax (OpenAPI's too).
    pub fn route(self) -> &'static str {
        match self {
            Operation::VerifyIdentity => "/identity/verifications",
            Operation::QrIdentity => "/identity/qr",
            Operation::SyncCatalogue => "/catalogue",
            Operation::LookupLicences => "/subjects/{subject}/licences",
            Operation::CreateApplication => "/applications",
            Operation::ApplicationStatus => "/applications/{applicationId}",
            Operation::CaseStatus => "/cases/{caseNumber}",
            Operation::UploadMaterial => "/applications/{applicationId}/materials",
            Operation::SubmitApplication => "/applications/{applicationId}/submission",
            Operation::IssueNotice => "/notices",
            Operation::QueryNotice => "/notices/{noticeNumber}",
            Operation::ConfirmPayment => "/notices/{noticeNumber}/payments",
            Operation::ConfirmPayments => "/payments/confirmations",
            Operation::CancelPayment => {
                "/notices/{noticeNumber}/payments/{receiptNumber}/cancellation"
            }
            Operation::RenderDocument => "/documents",
            Operation::Evaluate => "/evaluations",
            Operation::AppointmentSlots => "/appointments/slots",
            Operation::BookAppointment => "/appointments",
            Operation::ReconciliationReport => "/reconciliation/{date}",
        }
    }

    /// The operation a request's method and matched route template name.
    pub fn from_route(method: &str, template: &str) -> Option<Operation> {
        let route = template.strip_prefix(wire::BASE_PATH)?;
        Operation::ALL
            .into_iter()
            .find(|o| o.method() == method && o.route() == route)
    }

    /// The operation a request's method and raw path (with the base path) address, and its
    /// percent-decoded path parameters in template order.
    pub fn resolve(method: &str, path: &str) -> Result<(Operation, Vec<String>), Unresolved> {
        let rest = path
            .strip_prefix(wire::BASE_PATH)
            .ok_or(Unresolved::NoSuchPath)?;
        let mut other_method = false;
        for op in Operation::ALL {
            let Some(params) = route_params(op.route(), rest) else {
                continue;
            };
            if op.method() == method {
                return Ok((op, params));
            }
            other_method = true;
        }
        Err(if other_method {
            Unresolved::OtherMethod
        } else {
            Unresolved::NoSuchPath
        })
    }

    /// A POST: it changes something, carries an idempotency key.
    pub fn has_effect(self) -> bool {
        self.method() == "POST"
    }
}

/// Why a request addresses no operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolved {
    NoSuchPath,
    /// The path is an operation's, under another method.
    OtherMethod,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// The percent-decoded parameters of `path` (after the base path) if it has `template`'s
/// shape: as many segments, the literal ones equal, the `{…}` ones non-empty UTF-8. Walked
/// segment by segment, without collecting either side: the sandbox resolves every call.
fn route_params(template: &str, path: &str) -> Option<Vec<String>> {
    let (mut template, mut path) = (template.split('/').skip(1), path.split('/').skip(1));
    let mut params = Vec::new();
    loop {
        match (template.next(), path.next()) {
            (None, None) => return Some(params),
            (Some(t), Some(s)) if t.starts_with('{') => {
                match percent_encoding::percent_decode_str(s).decode_utf8() {
                    Ok(v) if !v.is_empty() => params.push(v.into_owned()),
                    _ => return None,
                }
            }
            (Some(t), Some(s)) if t == s => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_openapi_document() {
        let openapi = include_str!("../../../docs/openapi.yaml");
        for op in Operation::ALL {
            assert!(
                openapi.contains(&format!("\n      operationId: {}\n", op.id())),
                "{op} is not in docs/openapi.yaml"
            );
            assert!(
                openapi.contains(&format!("\n  {}:\n", op.route())),
                "{} is not a path of docs/openapi.yaml",
                op.route()
            );
            assert_eq!(Operation::from_id(op.id()), Some(op));
        }
        assert_eq!(
            openapi.matches("\n      operationId: ").count(),
            Operation::ALL.len()
        );
    }

    #[test]
    fn every_operation_resolves_from_its_own_route() {
        for op in Operation::ALL {
            let mut params = Vec::new();
            let path: Vec<String> = op
                .route()
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        params.push(format!("p{}", params.len()));
                        params.last().cloned().unwrap_or_default()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect();
            let path = format!("{}{}", wire::BASE_PATH, path.join("/"));
            assert_eq!(
                Operation::resolve(op.method(), &path),
                Ok((op, params)),
                "{path}"
            );
        }
    }

    #[test]
    fn paths_resolve_to_operations_with_decoded_parameters() {
        assert_eq!(
            Operation::resolve("POST", "/gsp/v1/notices/4401/payments/R-1/cancellation"),
            Ok((Operation::CancelPayment, vec!["4401".into(), "R-1".into()]))
        );
        assert_eq!(
            Operation::resolve("GET", "/gsp/v1/subjects/S%2D1/licences"),
            Ok((Operation::LookupLicences, vec!["S-1".into()]))
        );
        assert_eq!(
            Operation::resolve("GET", "/gsp/v1/appointments/slots"),
            Ok((Operation::AppointmentSlots, vec![]))
        );
        assert_eq!(
            Operation::resolve("DELETE", "/gsp/v1/notices/1"),
            Err(Unresolved::OtherMethod)
        );
        assert_eq!(
            Operation::resolve("GET", "/gsp/v1/notices/"),
            Err(Unresolved::NoSuchPath)
        );
        assert_eq!(
            Operation::resolve("GET", "/gsp/v2/catalogue"),
            Err(Unresolved::NoSuchPath)
        );
        assert_eq!(
            Operation::resolve("GET", "/gsp/v1/notices/%FF"),
            Err(Unresolved::NoSuchPath)
        );
    }
}
