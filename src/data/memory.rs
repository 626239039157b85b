//! An estimate of the memory a run needs, made before anything large is allocated, so that a
//! spec too big for the machine is refused with the figure instead of crashing.

use std::io::Read;
use std::path::Path;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{Batch, CsvSource, DataSource, Model};

/// Rows of a CSV file (see `count_lines`).
fn count_rows(csv: &CsvSource) -> f64 {
    count_lines(&csv.path)
}

/// Lines of a file after the first, estimated without reading it all: its size over the mean
/// length of its first lines (up to 1 MiB of them, counted exactly when that is the whole
/// file); a `.gz` file is taken to hold four times its size. 0 for a file that cannot be read
/// (reading it will say why).
pub fn count_lines(path: &Path) -> f64 {
    let Ok(mut input) = super::open_input(path) else { return 0.0 };
    let mut sample = vec![0u8; 1 << 20];
    let mut filled = 0;
    while filled < sample.len() {
        match input.reader.read(&mut sample[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(read) => filled += read,
        }
    }
    let lines = memchr::memchr_iter(b'\n', &sample[..filled]).count();
    if filled < sample.len() {
        return lines.saturating_sub(1) as f64;
    }
    let size = input.disk_bytes as f64 * if input.gzip { 4.0 } else { 1.0 };
    (size * lines.max(1) as f64 / filled as f64 - 1.0).max(0.0)
}

/// Bytes the run needs, roughly: the data, the batch buffers (values, gradients, scratch) and
/// the parameters with their gradients, optimizer moments and spare copies. Computed in f64,
/// so absurd sizes give a large number rather than an overflow.
pub fn estimate_bytes(model: &Model) -> f64 {
    let source_rows = match &model.data.source {
        DataSource::Csv(csv) => count_rows(csv),
        DataSource::Random { rows, .. } | DataSource::Xor { rows, .. } => *rows as f64,
    };
    let extra_rows: f64 = model.data.validation_file.iter().chain(&model.data.test_file).map(count_rows).sum();
    let rows = source_rows + extra_rows;
    let row_values = (model.input.width + model.target_width()) as f64;
    let batch = match model.train.batch {
        Batch::Full => rows,
        Batch::Rows(batch) => (batch as f64).min(rows.max(1.0)),
    };
    let widths: f64 = model.input.width as f64 + model.layers.iter().map(|l| l.outputs as f64).sum::<f64>();
    let params: f64 = model
        .layers
        .iter()
        .map(|layer| {
            layer.kind.parameter_count(layer.inputs, layer.outputs) as f64
                + layer.kind.state_count(layer.outputs) as f64
        })
        .sum();
    // Per class pair, a count of the confusion matrix (u64).
    let classes = model.data.classes.unwrap_or(0) as f64;
    // Values, gradients and scratch per buffer; per parameter: itself, two moments, up to two
    // chunk gradients, a transposed copy and early stopping's best copy.
    4.0 * (rows * row_values + 3.0 * batch * widths + 7.0 * params) + 8.0 * classes * classes + file_bytes(model)
}

/// The bytes of the CSV files, which are held in memory while they are parsed (a `.gz` file
/// taken as four times its size).
fn file_bytes(model: &Model) -> f64 {
    let csv = match &model.data.source {
        DataSource::Csv(csv) => Some(csv),
        _ => None,
    };
    csv.into_iter()
        .chain(&model.data.validation_file)
        .chain(&model.data.test_file)
        .filter_map(|csv| super::open_input(&csv.path).ok())
        .map(|input| input.disk_bytes as f64 * if input.gzip { 4.0 } else { 1.0 })
        .sum()
}

/// Bytes that inference on the rows of `input` needs: the rows read and scaled, the outputs,
/// and the buffers of one batch (`batch` rows at most) through layers `widths` wide in all.
pub fn estimate_inference_bytes(input: &Path, features: usize, outputs: usize, batch: usize, widths: usize) -> f64 {
    let rows = count_lines(input);
    4.0 * (rows * (2.0 * features as f64 + 2.0 * outputs as f64) + 3.0 * batch as f64 * widths as f64)
}

/// The memory this process may still use: the tightest of the memory the system has
/// available (/proc/meminfo), its address-space and data limits (`ulimit -v`, `ulimit -d`,
/// less what it already maps) and its control group's limit (less what the group uses).
/// `None` where none of these is known.
pub fn available_bytes() -> Option<f64> {
    [system_available(), rlimit_room(), cgroup_room()].into_iter().flatten().reduce(f64::min)
}

/// MemAvailable.
fn system_available() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&text, "MemAvailable:")
}

/// A `Name:   123 kB` field of /proc files, in bytes.
fn kib_field(text: &str, name: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.starts_with(name))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Virtual memory each worker thread may reserve beyond the run's own (its stack and malloc's
/// per-thread arena), which an address-space limit counts.
const PER_THREAD_RESERVE: f64 = 72.0 * 1024.0 * 1024.0;

/// Room under the soft address-space and data-segment limits.
fn rlimit_room() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let soft = |name: &str| -> Option<f64> {
        let line = limits.lines().find(|line| line.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let reserve = threads * PER_THREAD_RESERVE;
    let address = soft("Max address space").map(|limit| limit - kib_field(&status, "VmSize:").unwrap_or(0.0) - reserve);
    let data = soft("Max data size").map(|limit| limit - kib_field(&status, "VmData:").unwrap_or(0.0) - reserve);
    [address, data].into_iter().flatten().reduce(f64::min).map(|room| room.max(0.0))
}

/// Room under the control group's memory limit (cgroup v2 `memory.max`, or v1's
/// `memory.limit_in_bytes`), less what the group already uses.
fn cgroup_room() -> Option<f64> {
    let read = |path: &str| std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse::<f64>().ok());
    let groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut candidates = Vec::new();
    for line in groups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        if controllers.is_empty() {
            candidates
                .push((format!("/sys/fs/cgroup{path}/memory.max"), format!("/sys/fs/cgroup{path}/memory.current")));
        } else if controllers.split(',').any(|c| c == "memory") {
            let dir = format!("/sys/fs/cgroup/memory{path}");
            candidates.push((format!("{dir}/memory.limit_in_bytes"), format!("{dir}/memory.usage_in_bytes")));
        }
    }
    // Inside a container the group's own directory is the mount's root.
    candidates.push(("/sys/fs/cgroup/memory.max".into(), "/sys/fs/cgroup/memory.current".into()));
    candidates.push((
        "/sys/fs/cgroup/memory/memory.limit_in_bytes".into(),
        "/sys/fs/cgroup/memory/memory.usage_in_bytes".into(),
    ));
    candidates
        .iter()
        // "max", or v1's page-rounded i64::MAX, mean no limit.
        .filter_map(|(limit, usage)| {
            read(limit).filter(|&l| l < 1e18).map(|l| (l - read(usage).unwrap_or(0.0)).max(0.0))
        })
        .reduce(f64::min)
}

/// Refuses a model whose estimated memory exceeds `limit` bytes.
pub fn check(model: &Model, limit: f64) -> Result<(), Diagnostic> {
    let needed = estimate_bytes(model);
    if needed <= limit {
        return Ok(());
    }
    Err(Diagnostic::error(
        Code::TooLarge,
        format!("this run needs about {} of memory, more than the {} allowed", human(needed), human(limit)),
    )
    .at(model.data.span, "the data and the model's size decide it")
    .note("the estimate counts the data, the batch buffers and the parameters with their optimizer state")
    .help("use fewer rows, a smaller batch or narrower layers, or raise `--max-memory`"))
}

/// Bytes in binary units: `1.5 GiB`.
pub fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 1024.0 { format!("{bytes:.3e} B") } else { format!("{value:.1} {}", units[unit]) }
}

/// Parses a size such as `512M`, `8G` or `1000000` (bytes).
pub fn parse_size(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (digits, scale) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale = match c.to_ascii_uppercase() {
                'K' => 1024f64,
                'M' => 1024f64.powi(2),
                'G' => 1024f64.powi(3),
                'T' => 1024f64.powi(4),
                _ => return Err(format!("unknown size unit `{c}` (use K, M, G or T)")),
            };
            (&text[..i], scale)
        }
        _ => (text, 1.0),
    };
    let value: f64 = digits.parse().map_err(|_| format!("`{text}` is not a size such as 512M or 8G"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("`{text}` is not a positive size"));
    }
    Ok(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("512M").unwrap(), 512.0 * 1024.0 * 1024.0);
        assert_eq!(parse_size("2g").unwrap(), 2.0 * 1024f64.powi(3));
        assert_eq!(parse_size("1000").unwrap(), 1000.0);
        assert!(parse_size("12Q").is_err() && parse_size("-1").is_err());
        assert_eq!(human(1536.0 * 1024.0 * 1024.0), "1.5 GiB");
    }
}
