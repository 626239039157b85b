//! `nnspec init NAME`: creates a starter project (`crate::scaffold`) and says what to do next.

use std::path::Path;

use super::emit;
use crate::report::Report;
use crate::scaffold;

pub fn init(name: &str) -> Result<(), Report> {
    let starter = scaffold::create(Path::new("."), name)?;
    let spec = starter.spec.display();
    emit(&format!(
        "created {name}/{spec} and {name}/{}\nnext: cd {name} && nnspec run {spec} && nnspec test --bless\n",
        starter.config.display()
    ))
}
