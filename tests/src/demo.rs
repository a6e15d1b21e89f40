//! `stm-conformance demo`: one end-to-end run a person can follow — an STM session (a
//! certificate printed on A4, then a certificate item with a fee paid by card) and a bank
//! switch's payment of a notice and its reversal over ISO 8583 — printing each step.

use std::io::Write;
use std::path::Path;

use adapter_protocols::tsp::client::StepCommand;
use anyhow::{Context, anyhow};

use crate::sim::devices::{self, Devices};
use crate::sim::switch::GovBillSwitch;
use crate::sim::terminal::{Script, TerminalSim};
use crate::target::Target;

/// The items the demo runs: (code, what it shows).
const ITEMS: [(&str, &str); 2] = [
    ("442001001000", "户籍证明开具 — a certificate printed on A4"),
    (
        "440701004000",
        "往来港澳通行证再次签注 — a certificate item with a fee paid by card",
    ),
];

/// The notice the switch pays and reverses (fixtures/sandbox/notices.toml).
const NOTICE: (&str, u64) = ("44010026120000000050", 6000);

fn yuan(fen: u64) -> String {
    format!("{}.{:02} 元", fen / 100, fen % 100)
}

/// One line per step, without personal data.
fn describe(step: &StepCommand) -> String {
    match step {
        StepCommand::Identify(i) => format!(
            "Identify     the citizen proves who they are ({})",
            i.methods
                .iter()
                .map(|m| format!("{m:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        StepCommand::Form(f) => format!(
            "Form         fills in {}",
            f.fields
                .iter()
                .map(|x| x.label.as_str())
                .collect::<Vec<_>>()
                .join("、")
        ),
        StepCommand::Materials(m) => format!(
            "Materials    {}",
            m.materials
                .iter()
                .map(|x| format!("{} ({})", x.name, x.source))
                .collect::<Vec<_>>()
                .join("、")
        ),
        StepCommand::Sign(_) => "Sign         signs on the signature pad".into(),
        StepCommand::Confirm(c) => {
            format!("Confirm      checks {} lines and confirms", c.summary.len())
        }
        StepCommand::Appointment(a) => format!(
            "Appointment  chooses {} at {}",
            a.slots.first().map(|s| s.start.as_str()).unwrap_or("?"),
            a.slots.first().map(|s| s.hall.as_str()).unwrap_or("?")
        ),
        StepCommand::Pay(p) => format!(
            "Pay          {} to {} by card and PIN pad",
            yuan(p.amount_fen),
            p.payee
        ),
        StepCommand::Reverse(r) => format!("Reverse      {} given back", yuan(r.amount_fen)),
        StepCommand::Submit(s) => format!("Submit       case {}", s.case_number),
        StepCommand::Deliver(d) => format!(
            "Deliver      {}",
            d.outputs
                .iter()
                .map(|o| format!("{} by {}", o.result, o.delivery))
                .collect::<Vec<_>>()
                .join("、")
        ),
        StepCommand::Rate(_) => "Rate         rates the service".into(),
        StepCommand::Notice(n) => format!("Notice       {}", n.text),
    }
}

/// Runs the demo against `target`, writing to `out`; printed documents go to `prints`.
pub async fn demo(target: &Target, out: &mut dyn Write, prints: &Path) -> anyhow::Result<()> {
    writeln!(out, "stm-conformance demo against {}\n", target.label)?;

    let citizen = devices::citizen("440106198503151014")?;
    writeln!(
        out,
        "STM session: terminal STM-DEMO-0001, citizen {}* (ID {}…{}), ID card and face",
        citizen.name.chars().next().unwrap_or('?'),
        citizen.id_number.get(..6).unwrap_or_default(),
        citizen.id_number.get(14..).unwrap_or_default()
    )?;
    let mut d = Devices::new(citizen);
    d.print_dir = Some(prints.to_path_buf());
    let mut sim = TerminalSim::open(target.terminal("STM-DEMO-0001")?, d).await?;
    for (code, what) in ITEMS {
        writeln!(out, "\n  item {code} {what}")?;
        let mut lines = Vec::new();
        let run = sim
            .run_item(code, &Script::default(), |s| lines.push(describe(s)))
            .await?;
        for l in lines {
            writeln!(out, "    {l}")?;
        }
        let o = run
            .outcome
            .as_ref()
            .ok_or_else(|| anyhow!("{code} was refused: {:?}", run.refused))?;
        let mut end = format!("    → {:?}", o.outcome);
        if let Some(r) = &o.receipt_number {
            end.push_str(&format!(", platform receipt {r}"));
        }
        if let Some(c) = &o.case_number {
            end.push_str(&format!(", case {c}"));
        }
        writeln!(out, "{end}")?;
    }
    for p in &sim.devices.printed {
        writeln!(out, "  printed {}", p.display())?;
    }
    sim.close().await?;

    let addr = target
        .switch
        .context("the target has no gov-bill listener")?;
    writeln!(out, "\nBank switch on a gov-bill link to {addr}")?;
    let mut switch = GovBillSwitch::connect(addr).await?;
    let a = switch.sign_on().await?;
    writeln!(
        out,
        "  0800 sign-on                → {} {}",
        a.mti().as_str(),
        a.code().unwrap_or("--")
    )?;
    let (notice, fen) = NOTICE;
    let a = switch.inquire(notice).await?;
    writeln!(
        out,
        "  0200 inquiry {notice} → {} {}: {} owed to {}",
        a.mti().as_str(),
        a.code().unwrap_or("--"),
        a.tag("AD01")
            .and_then(|f| f.parse().ok())
            .map_or("?".into(), yuan),
        a.tag("PY01").unwrap_or_default()
    )?;
    let (a, payment) = switch.pay(notice, fen).await?;
    writeln!(
        out,
        "  0200 payment {}          → {} {}, authorisation {}, business date {}",
        yuan(fen),
        a.mti().as_str(),
        a.code().unwrap_or("--"),
        a.text(38).unwrap_or("-"),
        a.tag("BD01").unwrap_or_default()
    )?;
    let a = switch.repeat_payment(&payment).await?;
    writeln!(
        out,
        "  0200 the same payment again  → {} {} (answered from the journal, not paid twice)",
        a.mti().as_str(),
        a.code().unwrap_or("--")
    )?;
    let a = switch.reverse(&payment, false).await?;
    writeln!(
        out,
        "  0420 reversal advice         → {} {} (the confirmation is withdrawn or cancelled at the platform)",
        a.mti().as_str(),
        a.code().unwrap_or("--")
    )?;
    let a = switch.sign_off().await?;
    writeln!(
        out,
        "  0800 sign-off               → {} {}",
        a.mti().as_str(),
        a.code().unwrap_or("--")
    )?;
    writeln!(out, "\ndemo done")?;
    Ok(())
}
