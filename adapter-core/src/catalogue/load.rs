//! Reading and checking catalogue files.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::model::*;
use crate::calendar::{Schedule, ScheduleDef};
use crate::ids::{
    BasicCode, CreditCode, DivisionCode, DivisionLevel, ExerciseLevel, ImplementingCode, ItemType,
};
use crate::problems::Problems;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    department: Option<Department>,
    #[serde(default, rename = "item")]
    items: Vec<ItemDef>,
    #[serde(default, rename = "implementation")]
    implementations: Vec<ImplementationDef>,
    #[serde(default, rename = "backend")]
    backends: BTreeMap<String, ScheduleDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemDef {
    code: String,
    synthetic: bool,
    name: String,
    name_en: String,
    item_type: u8,
    service_objects: Vec<ServiceObject>,
    case_type: CaseType,
    statutory_limit: Option<TimeLimit>,
    promised_limit: Option<TimeLimit>,
    fee: FeeDef,
    identity: IdentityRequirement,
    #[serde(default)]
    form: Vec<FormFieldDef>,
    #[serde(default, rename = "material")]
    materials: Vec<MaterialDef>,
    #[serde(default)]
    signature: bool,
    #[serde(rename = "result")]
    results: Vec<ResultDef>,
    #[serde(default)]
    appointment: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FeeDef {
    Keyword(FeeKeyword),
    Fixed { fixed_fen: u64 },
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FeeKeyword {
    None,
    PerNotice,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormFieldDef {
    id: String,
    label: String,
    kind: FieldKind,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    options: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum SourceKind {
    Scan,
    ELicence,
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterialDef {
    name: String,
    mandatory: bool,
    source: SourceKind,
    licence_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultDef {
    name: String,
    kind: ResultKind,
    delivery: Vec<Delivery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImplementationDef {
    code: String,
    synthetic: bool,
    division: String,
    body: String,
    backend: String,
    #[serde(default = "yes")]
    self_service: bool,
    #[serde(default = "yes")]
    enabled: bool,
}

/// Loads a catalogue from `(file name, TOML text)` pairs. Every problem in every file is
/// reported, each with its file and item.
pub fn load(files: &[(String, String)]) -> Result<Catalogue, Problems> {
    let mut problems = Problems::default();
    let mut items: Vec<Item> = Vec::new();
    let mut item_files: HashMap<String, String> = HashMap::new();
    let mut pending: Vec<(String, ImplementationDef)> = Vec::new();
    let mut backends: BTreeMap<String, Schedule> = BTreeMap::new();

    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (file, text) in &sorted {
        hasher.update(file.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let version = format!(
        "sha256:{}",
        digest
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );

    for (file, text) in sorted {
        let def: FileDef = match toml::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                problems.push(file, None, e.message().to_owned());
                continue;
            }
        };
        if !def.items.is_empty() && def.department.is_none() {
            problems.push(file, None, "a file of items names its department");
        }
        for item in def.items {
            if let Some(department) = def.department
                && let Some(item) = check_item(file, item, department, &mut problems)
            {
                if let Some(first) = item_files.get(item.code.as_str()) {
                    problems.push(
                        file,
                        Some(item.code.as_str()),
                        format!("also defined in {first}"),
                    );
                } else {
                    item_files.insert(item.code.as_str().to_owned(), file.clone());
                    items.push(item);
                }
            }
        }
        for (name, schedule) in def.backends {
            match schedule.compile() {
                Ok(s) => {
                    if backends.insert(name.clone(), s).is_some() {
                        problems.push(file, Some(&name), "another backend has this name");
                    }
                }
                Err(errors) => {
                    for e in errors {
                        problems.push(file, Some(&name), format!("backend schedule: {e}"));
                    }
                }
            }
        }
        pending.extend(def.implementations.into_iter().map(|i| (file.clone(), i)));
    }
    items.sort_by(|a, b| a.code.cmp(&b.code));

    let mut implementations: Vec<Implementation> = Vec::new();
    let mut seen: HashMap<(String, u32), String> = HashMap::new();
    for (file, def) in pending {
        let Some(imp) = check_implementation(&file, def, &backends, &mut problems) else {
            continue;
        };
        let basic = imp.code.basic().as_str().to_owned();
        let here = Some(imp.code.as_str());
        if items
            .binary_search_by(|i| i.code.as_str().cmp(&basic))
            .is_err()
        {
            problems.push(&file, here, format!("no item has the basic code {basic}"));
            continue;
        }
        if let Some(other) = seen.insert((basic.clone(), imp.division.code()), imp.code.to_string())
        {
            problems.push(
                &file,
                here,
                format!(
                    "item {basic} is already implemented in {} by {other}",
                    imp.division
                ),
            );
            continue;
        }
        implementations.push(imp);
    }
    implementations.sort_by(|a, b| a.code.cmp(&b.code));

    let mut by_item: Vec<Vec<(u32, usize)>> = vec![Vec::new(); items.len()];
    for (idx, imp) in implementations.iter().enumerate() {
        let basic = imp.code.basic().as_str();
        if let Ok(i) = items.binary_search_by(|it| it.code.as_str().cmp(basic))
            && let Some(list) = by_item.get_mut(i)
        {
            list.push((imp.division.code(), idx));
        }
    }
    for list in &mut by_item {
        list.sort();
    }

    problems.into_result(Catalogue {
        items,
        implementations,
        backends,
        by_item,
        version,
    })
}

fn check_item(
    file: &str,
    def: ItemDef,
    department: Department,
    problems: &mut Problems,
) -> Option<Item> {
    let here = Some(def.code.as_str());
    let mut ok = true;
    let mut fail = |message: String| {
        problems.push(file, here, message);
        ok = false;
    };
    let code = BasicCode::parse(&def.code)
        .map_err(|e| fail(format!("code: {e}")))
        .ok();
    let item_type = ItemType::from_code(def.item_type);
    match (&code, item_type) {
        (_, None) => fail(format!(
            "item_type {} is not in the item-type table (0–29)",
            def.item_type
        )),
        (Some(c), Some(t)) if c.item_type() != t => fail(format!(
            "item_type {} differs from the code's characters 3–4 ({:02})",
            def.item_type,
            c.item_type().code()
        )),
        _ => {}
    }
    if def.name.trim().is_empty() || def.name_en.trim().is_empty() {
        fail("name and name_en must not be empty".to_owned());
    }
    if def.service_objects.is_empty() {
        fail("list at least one service object".to_owned());
    }
    if let (Some(s), Some(p)) = (def.statutory_limit, def.promised_limit)
        && s.unit == p.unit
        && p.value > s.value
    {
        fail("the promised limit exceeds the statutory limit".to_owned());
    }
    if def.case_type == CaseType::Promised && def.promised_limit.is_none() {
        fail("a promised case (承诺件) needs a promised_limit".to_owned());
    }
    let fee = match def.fee {
        FeeDef::Keyword(FeeKeyword::None) => Fee::None,
        FeeDef::Keyword(FeeKeyword::PerNotice) => Fee::PerNotice,
        FeeDef::Fixed { fixed_fen: 0 } => {
            fail("a fixed fee is more than 0 fen (use fee = \"none\")".to_owned());
            Fee::None
        }
        FeeDef::Fixed { fixed_fen } => Fee::Fixed { fen: fixed_fen },
    };
    if fee == Fee::PerNotice && !def.form.iter().any(|f| f.kind == FieldKind::PaymentNotice) {
        fail("a fee per notice needs a payment-notice form field".to_owned());
    }
    let mut form: Vec<FormField> = Vec::new();
    for f in def.form {
        if form.iter().any(|o| o.id == f.id) {
            fail(format!("form field {:?} appears twice", f.id));
        }
        if f.kind == FieldKind::Choice && f.options.len() < 2 {
            fail(format!(
                "form field {:?} is a choice with fewer than two options",
                f.id
            ));
        }
        form.push(FormField {
            id: f.id,
            label: f.label,
            kind: f.kind,
            required: f.required,
            options: f.options,
        });
    }
    let mut materials = Vec::new();
    for m in def.materials {
        let source = match (m.source, m.licence_type) {
            (SourceKind::Scan, None) => MaterialSource::Scan,
            (SourceKind::None, None) => MaterialSource::None,
            (SourceKind::ELicence, Some(t)) => {
                let valid = t.len() == 21
                    && t.get(..18).is_some_and(|c| CreditCode::parse(c).is_ok())
                    && t.get(18..)
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
                if !valid {
                    fail(format!(
                        "material {:?}: licence_type is the defining body's credit code and 3 digits",
                        m.name
                    ));
                }
                MaterialSource::ELicence { licence_type: t }
            }
            (SourceKind::ELicence, None) => {
                fail(format!(
                    "material {:?}: an e-licence source needs licence_type",
                    m.name
                ));
                MaterialSource::None
            }
            (_, Some(_)) => {
                fail(format!(
                    "material {:?}: licence_type belongs to e-licence sources only",
                    m.name
                ));
                MaterialSource::None
            }
        };
        materials.push(Material {
            name: m.name,
            mandatory: m.mandatory,
            source,
        });
    }
    if def.results.is_empty() {
        fail("list at least one result".to_owned());
    }
    let results: Vec<ResultSpec> = def
        .results
        .into_iter()
        .map(|r| {
            if r.delivery.is_empty() {
                fail(format!("result {:?} has no delivery", r.name));
            }
            ResultSpec {
                name: r.name,
                kind: r.kind,
                delivery: r.delivery,
            }
        })
        .collect();
    let (Some(code), Some(item_type), true) = (code, item_type, ok) else {
        return None;
    };
    Some(Item {
        code,
        synthetic: def.synthetic,
        name: def.name,
        name_en: def.name_en,
        item_type,
        department,
        service_objects: def.service_objects,
        case_type: def.case_type,
        statutory_limit: def.statutory_limit,
        promised_limit: def.promised_limit,
        fee,
        identity: def.identity,
        form,
        materials,
        signature: def.signature,
        results,
        appointment: def.appointment,
    })
}

fn check_implementation(
    file: &str,
    def: ImplementationDef,
    backends: &BTreeMap<String, Schedule>,
    problems: &mut Problems,
) -> Option<Implementation> {
    let here = Some(def.code.as_str());
    let mut ok = true;
    let mut fail = |message: String| {
        problems.push(file, here, message);
        ok = false;
    };
    let code = ImplementingCode::parse(&def.code)
        .map_err(|e| fail(format!("code: {e}")))
        .ok();
    let division = DivisionCode::parse(&def.division)
        .map_err(|e| fail(format!("division: {e}")))
        .ok();
    if let (Some(code), Some(division)) = (&code, &division) {
        let body_division = code.body().division();
        if body_division != format!("{:06}", division.code()) {
            fail(format!(
                "the implementing body's credit code is registered in {body_division}, not in {division}"
            ));
        }
        let expected = match division.level() {
            DivisionLevel::Province => ExerciseLevel::Provincial,
            DivisionLevel::City => ExerciseLevel::City,
            DivisionLevel::District => ExerciseLevel::County,
            DivisionLevel::Township => ExerciseLevel::Town,
            DivisionLevel::Village => ExerciseLevel::Village,
        };
        if code.level() != expected && code.level() != ExerciseLevel::Tiered {
            fail(format!(
                "exercise level {} ({}) does not fit a {} division",
                code.level().digit(),
                code.level().as_str(),
                division.level().as_str()
            ));
        }
    }
    if !backends.contains_key(&def.backend) {
        fail(format!("no backend schedule named {:?}", def.backend));
    }
    if def.body.trim().is_empty() {
        fail("the implementing body is named".to_owned());
    }
    let (Some(code), Some(division), true) = (code, division, ok) else {
        return None;
    };
    Some(Implementation {
        code,
        synthetic: def.synthetic,
        division,
        body: def.body,
        backend: def.backend,
        self_service: def.self_service,
        enabled: def.enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEMS: &str = r#"
        department = "public-security"

        [[item]]
        code = "442001001000"
        synthetic = true
        name = "户籍证明开具"
        name_en = "Household registration certificate"
        item_type = 20
        service_objects = ["natural-person"]
        case_type = "instant"
        fee = "none"
        identity = "either"
        form = [{ id = "purpose", label = "用途", kind = "choice", options = ["入学", "就业"] }]
        [[item.result]]
        name = "户籍证明"
        kind = "certificate"
        delivery = ["a4-print", "e-licence"]
    "#;

    fn implementation(code: &str, division: &str) -> String {
        format!(
            "[[implementation]]\ncode = \"{code}\"\nsynthetic = true\ndivision = \"{division}\"\nbody = \"某局\"\nbackend = \"always\"\n"
        )
    }

    #[test]
    fn a_small_catalogue_loads() {
        let body = CreditCode::complete("1144010000000001")
            .map(|c| c.to_string())
            .unwrap_or_default();
        let imps = implementation(&format!("{body}3442001001000"), "440100");
        let files = vec![
            ("ps.toml".to_owned(), ITEMS.to_owned()),
            ("imp.toml".to_owned(), imps),
            (
                "backends.toml".to_owned(),
                "[backend.always]\nalways_open = true\n".to_owned(),
            ),
        ];
        let catalogue = load(&files);
        let catalogue = catalogue.as_ref().ok();
        assert_eq!(catalogue.map(|c| c.items().len()), Some(1));
        let tianhe = DivisionCode::parse("440106").ok();
        let found = catalogue
            .zip(tianhe)
            .and_then(|(c, d)| c.implementation_for(0, &d));
        assert!(
            found.is_some(),
            "a district finds its city's implementation"
        );
        assert!(catalogue.is_some_and(|c| c.version().starts_with("sha256:")));
    }

    #[test]
    fn every_problem_names_its_file_and_item() {
        let broken = ITEMS
            .replace("item_type = 20", "item_type = 1")
            .replace("options = [\"入学\", \"就业\"]", "options = []");
        let body = CreditCode::complete("1144030000000001")
            .map(|c| c.to_string())
            .unwrap_or_default();
        let imps = implementation(&format!("{body}3442001001000"), "440100")
            + &implementation(&format!("{body}3449901001000"), "440300");
        let files = vec![
            ("ps.toml".to_owned(), broken),
            ("imp.toml".to_owned(), imps),
        ];
        let problems = load(&files).err().unwrap_or_default();
        let text = problems.to_string();
        assert!(
            text.contains("ps.toml: 442001001000: item_type 1 differs"),
            "{text}"
        );
        assert!(
            text.contains("ps.toml: 442001001000: form field \"purpose\" is a choice"),
            "{text}"
        );
        assert!(
            text.contains("registered in 440300, not in 440100"),
            "{text}"
        );
        assert!(
            text.contains("no backend schedule named \"always\""),
            "{text}"
        );
        assert!(problems.len() >= 5, "{text}");
    }
}
