//! `nnspec init NAME`: a starter project that trains at once: a spec on built-in data and an
//! `nnspec.toml` for `nnspec test`. Project names follow cargo's: letters, digits, `_` and `-`,
//! starting with a letter; the model inside takes the name with `-` as `_` (`my-proj` holds
//! `model my_proj`), as a crate does.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic};
use crate::output;
use crate::report::{Kind, Report};

/// A project `create` made.
#[derive(Debug, Clone, PartialEq)]
pub struct Starter {
    /// The project folder, and the files written into it (relative to it).
    pub dir: PathBuf,
    pub spec: PathBuf,
    pub config: PathBuf,
}

/// The model name of a project name (`my-proj` -> `my_proj`), or an error when the project
/// name cannot be one.
pub fn model_name(name: &str) -> Result<String, Report> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(Report::of_kind(
            Kind::Spec,
            vec![
                Diagnostic::error(Code::OutOfRange, format!("`{name}` cannot name a project"))
                    .help("use letters, digits, `_` and `-`, starting with a letter, e.g. `my-model`"),
            ],
        ));
    }
    Ok(name.replace('-', "_"))
}

/// Creates project `name` in `parent`: `NAME/NAME.nn`, `NAME/nnspec.toml` and the empty
/// `NAME/golden/` its golden trace will go to. An existing `NAME` is left alone (an error).
pub fn create(parent: &Path, name: &str) -> Result<Starter, Report> {
    let model = model_name(name)?;
    let dir = parent.join(name);
    if dir.exists() || dir.is_symlink() {
        return Err(Report::from(Diagnostic::error(Code::Output, format!("`{name}` already exists"))));
    }
    std::fs::create_dir_all(dir.join("golden"))
        .map_err(|e| Report::from(Diagnostic::error(Code::Output, format!("cannot create `{name}`: {e}"))))?;
    let spec = format!(
        "# {name}: a small classifier of XOR-like points, to edit into your own model.\n\
         # Train it:   nnspec run {name}.nn\n\
         # Check it:   nnspec test   (compares the trace with golden/{name}.jsonl)\n\
         model {model} {{\n    input 2\n    dense 16 tanh init xavier\n    dense 1 sigmoid\n}}\n\
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
    let starter = Starter { dir, spec: PathBuf::from(format!("{name}.nn")), config: PathBuf::from("nnspec.toml") };
    output::write_atomic(&starter.dir.join(&starter.spec), spec.as_bytes())?;
    output::write_atomic(&starter.dir.join(&starter.config), config.as_bytes())?;
    Ok(starter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_cargo() {
        assert_eq!(model_name("my-proj").unwrap(), "my_proj");
        assert_eq!(model_name("my_model2").unwrap(), "my_model2");
        for bad in ["", "2fast", "-x", "a b", "a/b", "..", "é"] {
            assert!(model_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_hyphenated_project_holds_a_valid_spec() {
        let parent = std::env::temp_dir().join(format!("nnspec-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        std::fs::create_dir_all(&parent).unwrap();
        let starter = create(&parent, "my-proj").unwrap();
        assert_eq!(starter.spec, Path::new("my-proj.nn"));
        let spec = crate::Spec::load(&starter.dir.join(&starter.spec), &[]).unwrap_or_else(|r| panic!("{r}"));
        assert!(spec.model().name == "my_proj");
        assert!(create(&parent, "my-proj").is_err(), "an existing project is not overwritten");
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
