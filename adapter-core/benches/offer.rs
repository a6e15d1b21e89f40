//! Offers for the whole catalogue for 10,000 terminals: the budget is under one second.
//!
//! Run: `cargo bench -p adapter-core --bench offer`. Figures go to docs/performance.md.

// Setup failures should stop the bench loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use adapter_core::ids::{DivisionCode, guangdong_cities};
use adapter_core::plan::{Terminal, offer};
use adapter_core::shipped::{DataSet, shipped};
use criterion::{Criterion, criterion_group, criterion_main};
use time::macros::datetime;

fn offers_for_ten_thousand_terminals(c: &mut Criterion) {
    let data = DataSet::load(&shipped()).unwrap();
    let mut divisions: Vec<DivisionCode> = guangdong_cities()
        .iter()
        .map(|city| DivisionCode::parse(&format!("{:06}", city.code)).unwrap())
        .collect();
    divisions.push(DivisionCode::parse("440106").unwrap());
    divisions.push(DivisionCode::parse("440304").unwrap());
    // 10,000 terminals: every profile, in every city and two districts, at every site and none.
    let terminals: Vec<Terminal<'_>> = (0..10_000)
        .map(|i| Terminal {
            profile: &data.profiles[i % data.profiles.len()],
            division: divisions[(i / data.profiles.len()) % divisions.len()],
            site: (i % 7 < data.sites.len()).then(|| &data.sites[i % 7]),
        })
        .collect();
    let instant = datetime!(2026-11-27 10:30 +8);
    let items = data.catalogue.items().len();

    let mut group = c.benchmark_group("offer");
    group.sample_size(10);
    group.bench_function(format!("{items}-items x 10000-terminals"), |b| {
        b.iter(|| {
            let mut offered = 0usize;
            for t in &terminals {
                offered += offer(&data.catalogue, &data.calendar, black_box(t), instant)
                    .offered
                    .len();
            }
            offered
        })
    });
    group.bench_function("one terminal", |b| {
        b.iter(|| {
            offer(
                &data.catalogue,
                &data.calendar,
                black_box(&terminals[0]),
                instant,
            )
            .offered
            .len()
        })
    });
    group.finish();
}

criterion_group!(benches, offers_for_ten_thousand_terminals);
criterion_main!(benches);
