//! The project a spec belongs to, and the paths it may use. A spec or `nnspec.toml` may come
//! from a stranger (a pull request run in CI), so every path it names must resolve, links
//! followed, inside the project root: the nearest ancestor of the spec (or config) holding
//! `nnspec.toml` or `.git`, else the spec's own directory. `--allow-path DIR` widens that.
//! Paths given on the command line are the user's own choice and are not confined, but no
//! output may be an input or another output of the same command.

use std::path::{Component, Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic};

/// Where the paths of one spec or config may lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// The project root, resolved (absolute, links followed).
    root: PathBuf,
    /// Directories the command line allowed besides the root, resolved.
    allowed: Vec<PathBuf>,
}

/// The project root of a spec or config in `dir`: the nearest ancestor (or `dir` itself)
/// holding `nnspec.toml` or `.git`, else `dir`.
pub fn root_of(dir: &Path) -> PathBuf {
    let dir = resolve(dir);
    dir.ancestors()
        .find(|candidate| candidate.join("nnspec.toml").is_file() || candidate.join(".git").exists())
        .unwrap_or(&dir)
        .to_path_buf()
}

/// `path` made absolute, with links followed as far as it exists and `.` and `..` resolved in
/// what does not exist yet.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute =
        if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    // The longest prefix that exists is resolved by the file system (links followed), the rest
    // lexically.
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(resolved) = existing.canonicalize() {
            break resolved;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break PathBuf::from("/"),
        }
    };
    let mut resolved = base;
    for name in rest.iter().rev() {
        match Path::new(name).components().next() {
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::CurDir) | None => {}
            Some(_) => resolved.push(name),
        }
    }
    resolved
}

impl Access {
    /// The access of a spec or config in `dir`, widened by `allowed` directories.
    pub fn new(dir: &Path, allowed: &[PathBuf]) -> Access {
        Access { root: root_of(dir), allowed: allowed.iter().map(|dir| resolve(dir)).collect() }
    }

    /// Access to everything (for specs given as text with no project, and for tests).
    pub fn anywhere() -> Access {
        Access { root: PathBuf::from("/"), allowed: Vec::new() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `path` resolves inside the root or an allowed directory.
    pub fn permits(&self, path: &Path) -> bool {
        let resolved = resolve(path);
        std::iter::once(&self.root).chain(&self.allowed).any(|dir| resolved.starts_with(dir))
    }

    /// The diagnostic for `path` (as `shown` in the spec or config) when it leads outside.
    pub fn check(&self, path: &Path, shown: &str) -> Result<(), Diagnostic> {
        if self.permits(path) {
            return Ok(());
        }
        Err(Diagnostic::error(Code::PathPolicy, format!("`{shown}` is outside the project"))
            .note(format!(
                "the project root is `{}` (the nearest folder with nnspec.toml or .git)",
                self.root.display()
            ))
            .help("keep data inside the project, or allow its folder with `--allow-path DIR`"))
    }
}

/// A file's identity: its resolved path, and for an existing file its device and inode (a
/// hard link is the same file under another name).
fn identity(path: &Path) -> (PathBuf, Option<(u64, u64)>) {
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    };
    #[cfg(not(unix))]
    let inode = None;
    (resolve(path), inode)
}

/// Refuses an output that is one of the inputs or another output, naming both roles. Each
/// entry is `(role, path)`, e.g. `("the spec", "m.nn")`, `("--trace", "m.nn")`.
pub fn check_roles<P: AsRef<Path>, Q: AsRef<Path>>(
    inputs: &[(&str, P)],
    outputs: &[(&str, Q)],
) -> Result<(), Diagnostic> {
    let inputs: Vec<_> = inputs.iter().map(|(role, path)| (*role, path.as_ref(), identity(path.as_ref()))).collect();
    let outputs: Vec<_> = outputs.iter().map(|(role, path)| (*role, path.as_ref(), identity(path.as_ref()))).collect();
    let same = |a: &(PathBuf, Option<(u64, u64)>), b: &(PathBuf, Option<(u64, u64)>)| {
        a.0 == b.0 || a.1.is_some() && a.1 == b.1
    };
    for (index, (role, path, id)) in outputs.iter().enumerate() {
        let clash = inputs.iter().chain(&outputs[..index]).find(|(_, _, other)| same(id, other));
        if let Some((other_role, other_path, _)) = clash {
            return Err(Diagnostic::error(
                Code::PathPolicy,
                format!(
                    "`{}` would be written as {role}, but it is {other_role} (`{}`)",
                    path.display(),
                    other_path.display()
                ),
            )
            .help("give each output a path of its own, apart from the inputs"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_or_outside_the_project() {
        let dir = std::env::temp_dir().join(format!("nnspec-project-{}", std::process::id()));
        let project = dir.join("project");
        std::fs::create_dir_all(project.join("specs/data")).unwrap();
        std::fs::write(project.join("nnspec.toml"), "").unwrap();
        assert_eq!(root_of(&project.join("specs")), resolve(&project));
        let access = Access::new(&project.join("specs"), &[]);
        assert!(access.permits(&project.join("specs/data/x.csv")), "a file that does not exist yet");
        assert!(access.permits(&project.join("specs/../specs/data/x.csv")));
        assert!(!access.permits(&project.join("specs/../../elsewhere.csv")));
        assert!(!access.permits(Path::new("/etc/passwd")));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc", project.join("specs/etc")).unwrap();
            assert!(!access.permits(&project.join("specs/etc/passwd")), "links are followed");
        }
        let widened = Access::new(&project.join("specs"), &[PathBuf::from("/etc")]);
        assert!(widened.permits(Path::new("/etc/passwd")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_output_may_not_be_an_input_or_another_output() {
        let dir = std::env::temp_dir().join(format!("nnspec-roles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("m.nn");
        std::fs::write(&spec, "").unwrap();
        let trace = dir.join("t.jsonl");
        let error = check_roles(&[("the spec", &spec)], &[("--trace", &dir.join("./m.nn"))]).unwrap_err();
        assert!(error.message.contains("as --trace, but it is the spec"), "{}", error.message);
        let error = check_roles::<&Path, _>(&[], &[("--trace", &trace), ("--save", &trace)]).unwrap_err();
        assert!(error.message.contains("as --save, but it is --trace"), "{}", error.message);
        #[cfg(unix)]
        {
            std::fs::hard_link(&spec, dir.join("h.nn")).unwrap();
            assert!(check_roles(&[("the spec", &spec)], &[("--trace", &dir.join("h.nn"))]).is_err());
        }
        assert!(check_roles(&[("the spec", &spec)], &[("--trace", &trace)]).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
