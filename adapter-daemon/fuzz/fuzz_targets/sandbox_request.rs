//! Requests are peer input to the sandbox platform: any path, query and body get an answer of
//! the contract, never a panic.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use adapter_core::shipped::{DataSet, shipped};
use adapter_daemon::platform::Operation;
use adapter_daemon::sandbox::world::{Params, World};
use adapter_daemon::sandbox::{self, SandboxData};
use libfuzzer_sys::fuzz_target;

fn world() -> &'static Mutex<World> {
    static WORLD: OnceLock<Mutex<World>> = OnceLock::new();
    WORLD.get_or_init(|| {
        let data = Arc::new(DataSet::load(&shipped()).expect("shipped data"));
        let today = time::OffsetDateTime::now_utc().date();
        let sandbox = SandboxData::load(&sandbox::shipped(), today).expect("sandbox data");
        Mutex::new(World::new(&sandbox, data))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    // The request line is resolved the way the HTTP layer does it.
    let method = if selector & 0x80 == 0 { "GET" } else { "POST" };
    let path_end = text.find('\n').unwrap_or(text.len());
    let _ = Operation::resolve(method, &text[..path_end]);
    // The operation's handler gets path parameters, a query and a body from the input.
    let op = Operation::ALL[usize::from(selector) % Operation::ALL.len()];
    let mut parts = text.splitn(4, '\u{1}');
    let path: Vec<String> = parts.next().unwrap_or_default().split('/').map(str::to_owned).collect();
    let query = url::form_urlencoded::parse(parts.next().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let if_none_match = parts.next().map(str::to_owned);
    let body = parts.next().unwrap_or_default().as_bytes();
    let params = Params { path, query, if_none_match };
    let mut world = world().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let reply = world.handle(op, &params, body, time::OffsetDateTime::now_utc());
    assert!(matches!(reply.status, 200 | 201 | 304 | 400 | 404 | 409 | 422), "{op}: {}", reply.status);
});
