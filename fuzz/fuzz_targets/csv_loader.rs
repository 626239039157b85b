//! Any bytes as a CSV data file: loading must never panic, only report errors. The file is
//! read as `predict` and `eval` read one: two number features and a target, as numbers and
//! as class labels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnspec::data::{Encoding, Target, predict::read_rows};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("nnspec-fuzz-{}.csv", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let values = Target::Values { columns: names(&["y"]) };
    let numbers = Encoding::numeric(&names(&["a", "b"]), values, &[0.0, 0.0], &[1.0, 1.0]);
    let _ = read_rows(&path, &numbers, None, true);
    let _ = read_rows(&path, &numbers, Some(b';'), false);
    let classes = Target::Classes { column: "y".into(), labels: names(&["x", "z"]), indices: false };
    let labelled = Encoding::numeric(&names(&["a"]), classes, &[0.0], &[1.0]);
    let _ = read_rows(&path, &labelled, None, true);
});
