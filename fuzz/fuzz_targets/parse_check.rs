//! Any bytes as a spec: parse, check and compile must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnspec::plan::{CompileOptions, compile};
use nnspec::span::Source;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let source = Source::new("fuzz.nn", text);
    if let Ok(checked) = nnspec::check_source(&source, std::path::Path::new("/nonexistent")) {
        let plan = compile(&checked.model, &source, CompileOptions::default());
        let _ = plan.to_string();
    }
});
