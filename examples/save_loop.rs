//! Saves one large preset over and over until it is killed. The crash test
//! (tests/presets_store.rs) kills it at random moments and checks that the
//! preset on disk is always whole.
//!
//! `cargo run --example save_loop -- CONFIG_DIR`

use sockscope::engine::SessionSpec;
use sockscope::engine::spec::{SessionKind, Snippet};
use sockscope::store::Store;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: save_loop CONFIG_DIR");
        std::process::exit(2);
    };
    let store = Store::at(std::path::Path::new(&dir));
    let mut spec = SessionSpec::new("crash", SessionKind::SocketPair);
    // About 770 KiB as hex: large enough that some kills land mid-write.
    spec.snippets = (0..64)
        .map(|i| Snippet::new(format!("s{i}"), vec![0xab; 4_000]))
        .collect();
    let mut n = 0u64;
    loop {
        spec.limits.recv_buffer = 1 + (n % 60_000) as usize;
        if let Err(e) = store.save(&spec, true) {
            eprintln!("save {n}: {e}");
            std::process::exit(1);
        }
        n += 1;
    }
}
