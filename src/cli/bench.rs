//! `nnspec bench`: one JSON line per benchmark spec (see `crate::bench`).

use std::path::PathBuf;

use crate::report::Report;
use crate::run::RunOptions;

pub fn bench(specs: &[PathBuf], options: &RunOptions) -> Result<(), Report> {
    for spec in specs {
        super::emit(&format!("{}\n", crate::bench::measure(spec, options)?))?;
    }
    Ok(())
}
