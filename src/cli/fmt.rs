//! `nnspec fmt SPEC...`: rewrites specs in canonical form (atomically), comments kept;
//! `--check` only names the files that are not canonical and exits 1.

use std::path::PathBuf;

use super::emit;
use crate::diagnostic::{Code, ColorChoice, Diagnostic, render_all};
use crate::{Failure, output, syntax};

pub fn fmt(paths: &[PathBuf], check: bool, color: ColorChoice) -> Result<(), Failure> {
    let mut unformatted = Vec::new();
    for path in paths {
        let source = crate::read_source(path)?;
        let spec = match syntax::parse(&source.text) {
            Ok(spec) => spec,
            Err(diagnostics) => {
                eprint!("{}", render_all(&diagnostics, &source, color));
                return Err(Failure::Spec(Vec::new()));
            }
        };
        let Some(formatted) = syntax::format::format(&spec, &source) else {
            return Err(Failure::Spec(vec![Diagnostic::error(
                Code::UnknownName,
                format!("`{}` has statements nnspec does not know; run `nnspec check` on it first", path.display()),
            )]));
        };
        if formatted == source.text {
            continue;
        }
        if check {
            unformatted.push(path.display().to_string());
        } else {
            output::write_atomic(path, formatted.as_bytes())?;
            emit(&format!("formatted {}\n", path.display()))?;
        }
    }
    if unformatted.is_empty() {
        return Ok(());
    }
    emit(&unformatted.iter().map(|p| format!("not canonical: {p}\n")).collect::<String>())?;
    Err(Failure::Run(vec![
        Diagnostic::error(Code::Output, format!("{} file(s) are not in canonical form", unformatted.len()))
            .help("run `nnspec fmt` on them"),
    ]))
}
