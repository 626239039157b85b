//! Any bytes as a CSV data file: loading must never panic, only report errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("nnspec-fuzz-{}.csv", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let _ = nnspec::data::read_columns(&path, &names(&["a", "b"]), &names(&["y"]));
    let _ = nnspec::data::read_columns(&path, &names(&["a"]), &[]);
});
