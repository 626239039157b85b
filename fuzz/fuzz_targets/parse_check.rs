//! Any bytes as a spec: parse, check and compile must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnspec::plan::CompileOptions;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Rendering is part of the contract too: a report or warning must print without panicking.
    match nnspec::Spec::parse(text, "fuzz.nn", std::path::Path::new("/nonexistent"), &[]) {
        Ok(spec) => {
            let _ = spec.compile(CompileOptions::default()).to_string();
            let _ = spec.warnings_report().map(|report| report.to_string());
        }
        Err(report) => {
            let _ = report.to_string();
        }
    }
});
