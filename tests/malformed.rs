//! The corpus of malformed specs under `tests/malformed/`: each one's full rendering and exit
//! code, snapshotted. `nnspec check` runs from that directory with a fixed memory limit, so the
//! snapshots do not depend on the machine.

use crate::support::{nnspec, root};

#[test]
fn every_malformed_spec_is_diagnosed() {
    let dir = root().join("tests/malformed");
    insta::glob!("malformed", "*.nn", |path| {
        let name = path.file_name().unwrap().to_str().unwrap();
        let out = nnspec(&dir, &["--color", "never", "--max-memory", "1G", "check", name]);
        assert_ne!(out.code, 101, "{name} panicked: {}", out.stderr);
        let expected = if name.starts_with("data_") {
            1
        } else if name.starts_with("warning_") {
            0
        } else {
            2
        };
        assert_eq!(out.code, expected, "{name}: {}", out.stderr);
        insta::assert_snapshot!(format!("exit {}\n{}", out.code, out.stderr));
    });
}
