//! `stm-adapter validate KIND VALUE`: checks one identifier and prints what it holds.
//!
//! stdout is one JSON object `{"valid": bool, "reason": string|null, ...parsed parts}`; exit 0
//! when valid, 1 when invalid, 2 on a usage error. The parts never repeat a personal number in
//! full (an ID number shows its division, birth date and sex; a card number is masked).

use adapter_core::calendar::CST;
use adapter_core::ids::{
    CardNumber, CitizenId, CreditCode, DivisionCode, ItemCode, LicenceId, Sex,
};
use clap::ValueEnum;
use serde_json::{Map, Value, json};

use super::{Failure, emit};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Kind {
    IdNumber,
    CreditCode,
    LicenceId,
    Division,
    CardNumber,
    ItemCode,
}

pub(crate) fn run(kind: Kind, value: &str) -> Result<(), Failure> {
    let parts: Result<Map<String, Value>, String> = match kind {
        Kind::IdNumber => {
            let today = time::OffsetDateTime::now_utc().to_offset(CST).date();
            CitizenId::parse(value, today)
                .map(|id| {
                    let mut m = Map::new();
                    m.insert("division".into(), json!(id.division_prefix()));
                    m.insert(
                        "birth_date".into(),
                        json!(id.birth_date().map(|d| d.to_string())),
                    );
                    m.insert(
                        "sex".into(),
                        json!(match id.sex() {
                            Sex::Male => "male",
                            Sex::Female => "female",
                        }),
                    );
                    m.insert("masked".into(), json!(id.masked()));
                    m
                })
                .map_err(|e| e.to_string())
        }
        Kind::CreditCode => CreditCode::parse(value)
            .map(|c| {
                let mut m = Map::new();
                m.insert("authority".into(), json!(c.authority().to_string()));
                m.insert("division".into(), json!(c.division()));
                m.insert("organisation_code".into(), json!(c.organisation_code()));
                m
            })
            .map_err(|e| e.to_string()),
        Kind::LicenceId => LicenceId::parse(value)
            .map(|l| {
                let mut m = Map::new();
                m.insert("type_code".into(), json!(l.type_code()));
                m.insert("issuer".into(), json!(l.issuer().as_str()));
                m.insert("serial".into(), json!(l.serial()));
                m.insert("version".into(), json!(l.version()));
                m
            })
            .map_err(|e| e.to_string()),
        Kind::Division => DivisionCode::parse(value)
            .map(|d| {
                let mut m = Map::new();
                m.insert("code".into(), json!(d.to_string()));
                m.insert("name".into(), json!(d.division().map(|x| x.name_zh)));
                m.insert("name_en".into(), json!(d.division().map(|x| x.name_en)));
                m.insert("level".into(), json!(d.level().as_str()));
                m.insert("city".into(), json!(d.city().map(|c| c.to_string())));
                m.insert("province".into(), json!(d.province().to_string()));
                m
            })
            .map_err(|e| e.to_string()),
        Kind::CardNumber => CardNumber::parse(value)
            .map(|c| {
                let mut m = Map::new();
                m.insert("masked".into(), json!(c.masked()));
                m.insert("bin".into(), json!(c.bin()));
                m.insert("length".into(), json!(c.expose().len()));
                m
            })
            .map_err(|e| e.to_string()),
        Kind::ItemCode => ItemCode::parse(value)
            .map(item_parts)
            .map_err(|e| e.to_string()),
    };
    let (valid, reason, parts) = match parts {
        Ok(parts) => (true, Value::Null, parts),
        Err(reason) => (false, Value::String(reason), Map::new()),
    };
    let mut out = Map::new();
    out.insert("valid".into(), Value::Bool(valid));
    out.insert("reason".into(), reason);
    out.extend(parts);
    emit(&Value::Object(out).to_string())?;
    if valid {
        Ok(())
    } else {
        Err(Failure::Silent(1))
    }
}

fn item_parts(code: ItemCode) -> Map<String, Value> {
    let mut m = Map::new();
    let (kind, implementing, basic, number) = match &code {
        ItemCode::Basic(b) => ("basic", None, b.clone(), None),
        ItemCode::Implementing(i) => ("implementing", Some(i.clone()), i.basic().clone(), None),
        ItemCode::Handling(h) => (
            "handling",
            Some(h.implementing().clone()),
            h.implementing().basic().clone(),
            Some(h.number()),
        ),
    };
    m.insert("kind".into(), json!(kind));
    m.insert("basic_code".into(), json!(basic.as_str()));
    m.insert("region".into(), json!(basic.region()));
    m.insert(
        "item_type".into(),
        json!(format!("{:02}", basic.item_type().code())),
    );
    m.insert("item_type_name".into(), json!(basic.item_type().name()));
    m.insert("department".into(), json!(basic.department()));
    m.insert("main_item".into(), json!(basic.main_item()));
    m.insert("sub_item".into(), json!(basic.sub_item()));
    if let Some(i) = implementing {
        m.insert("implementing_body".into(), json!(i.body().as_str()));
        m.insert("exercise_level".into(), json!(i.level().as_str()));
    }
    if let Some(n) = number {
        m.insert("handling_number".into(), json!(format!("{n:02}")));
    }
    m
}
