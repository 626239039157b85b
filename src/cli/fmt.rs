//! `nnspec fmt SPEC...`: rewrites specs in canonical form (atomically), comments kept;
//! `--check` only names the files that are not canonical and exits 1.

use std::path::PathBuf;

use std::sync::Arc;

use super::emit;
use crate::diagnostic::{Code, Diagnostic};
use crate::report::{Kind, Report};
use crate::{output, syntax};

pub fn fmt(paths: &[PathBuf], check: bool) -> Result<(), Report> {
    let mut unformatted = Vec::new();
    for path in paths {
        let source = Arc::new(crate::spec::read_source(path)?);
        let spec = syntax::parse(&source.text)
            .map_err(|diagnostics| Report::of_kind(Kind::Spec, diagnostics).with_source(&source))?;
        let Some(formatted) = syntax::format::format(&spec, &source) else {
            return Err(Report::of_kind(
                Kind::Spec,
                vec![Diagnostic::error(
                    Code::UnknownName,
                    format!("`{}` has statements nnspec does not know; run `nnspec check` on it first", path.display()),
                )],
            ));
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
    Err(Report::from(
        Diagnostic::error(Code::Output, format!("{} file(s) are not in canonical form", unformatted.len()))
            .help("run `nnspec fmt` on them"),
    ))
}
