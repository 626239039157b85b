//! `nnspec init NAME`: a starter project that trains at once: a spec on built-in data and an
//! `nnspec.toml` for `nnspec test`.

use std::path::Path;

use super::emit;
use crate::diagnostic::{Code, Diagnostic};
use crate::output;
use crate::report::{Kind, Report};

pub fn init(name: &str) -> Result<(), Report> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Report::of_kind(
            Kind::Spec,
            vec![
                Diagnostic::error(Code::OutOfRange, format!("`{name}` cannot name a model"))
                    .help("use letters, digits and `_`, starting with a letter, e.g. `my_model`"),
            ],
        ));
    }
    let dir = Path::new(name);
    if dir.exists() {
        return Err(Report::from(Diagnostic::error(Code::Output, format!("`{name}` already exists"))));
    }
    std::fs::create_dir_all(dir.join("golden"))
        .map_err(|e| Report::from(Diagnostic::error(Code::Output, format!("cannot create `{name}`: {e}"))))?;
    let spec = format!(
        "# {name}: a small classifier of XOR-like points, to edit into your own model.\n\
         # Train it:   nnspec run {name}.nn\n\
         # Check it:   nnspec test   (compares the trace with golden/{name}.jsonl)\n\
         model {name} {{\n    input 2\n    dense 16 tanh init xavier\n    dense 1 sigmoid\n}}\n\
         loss bce\n\
         optimizer adam(lr: 0.01)\n\
         data xor(rows: 1000, seed: 1) split(validation: 0.2)\n\
         train {{ epochs: 30, batch: 32, seed: 1, log_every: 5 }}\n"
    );
    let config = format!(
        "# Specs whose training traces `nnspec test` compares with golden files.\n\
         # `nnspec test --bless` rewrites the golden files after an intended change.\n\
         [test]\ntolerance = 1e-4\n\n[[specs]]\nspec = \"{name}.nn\"\ngolden = \"golden/{name}.jsonl\"\n"
    );
    output::write_atomic(&dir.join(format!("{name}.nn")), spec.as_bytes())?;
    output::write_atomic(&dir.join("nnspec.toml"), config.as_bytes())?;
    emit(&format!(
        "created {name}/{name}.nn and {name}/nnspec.toml\nnext: cd {name} && nnspec run {name}.nn && nnspec test --bless\n"
    ))
}
