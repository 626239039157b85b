//! Ctrl-C during `nnspec run`: the first asks the run to stop after the epoch in progress (its
//! line printed and traced, a last checkpoint written where checkpointing is on; the process
//! then exits 130 with E0202); a second ends the process at once, also with 130.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The exit status of a process ended by SIGINT (128 + 2), as shells report it.
const SIGINT_EXIT: i32 = 130;

/// Catches Ctrl-C (SIGINT, and SIGTERM's polite cousin on Windows) for the rest of the process.
pub fn install() {
    // A second call (a handler is already set) changes nothing: the first one stays.
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            std::process::exit(SIGINT_EXIT);
        }
        eprintln!("\nstopping after this epoch (Ctrl-C again to stop at once)");
    });
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
