//! Python source fragments that are safe whatever the spec holds: identifiers that are never a
//! keyword or a builtin, string literals that escape every quote, backslash and control
//! character, and number literals that Python reads back to the same value. Every piece of
//! user text (a model name, a path, a column name) reaches generated Python through these.

/// Python's keywords and the builtins whose names start with a capital letter: a class named
/// after one of them would be a syntax error or would shadow what the script relies on.
const RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
];

/// Names the generated script defines at module level besides the model's class.
/// (Upper-case ones too: `m_o_d_e_l` would become `MODEL`.)
pub const SCRIPT_NAMES: &[&str] = &[
    "ChaCha8",
    "Objective",
    "Dataset",
    "Tensor",
    "Fraction",
    "DataError",
    "File",
    "Prepared",
    "MODEL",
    "SPEC",
    "MASK32",
    "MASK64",
    "NUMBER",
    "DELIMITERS",
];

/// The model's class name: the spec's model name in CamelCase (`iris_petal_width` becomes
/// `IrisPetalWidth`), reduced to ASCII letters, digits and underscores; `Model` is added when
/// that would be empty, start with a digit, or be a keyword, a builtin or a name the script
/// uses (`none` becomes `NoneModel`, `_` becomes `Model`).
pub fn class_name(model: &str) -> String {
    let mut name: String = model
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| c.to_uppercase().collect::<String>() + chars.as_str())
        })
        .collect::<String>()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "Model");
    } else if RESERVED.contains(&name.as_str()) || SCRIPT_NAMES.contains(&name.as_str()) {
        name.push_str("Model");
    }
    name
}

/// A double-quoted Python string literal of `text`: backslashes, quotes and every character
/// outside printable ASCII are escaped, so no text can end the literal or the line.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Text safe inside a triple-quoted docstring and on one line: `string`'s escaping without the
/// surrounding quotes (a `"""` in the text becomes `\"\"\"`).
pub fn doc_text(text: &str) -> String {
    let quoted = string(text);
    quoted[1..quoted.len() - 1].to_string()
}

/// A float literal that Python reads back to exactly `value` (Rust's shortest round-trip
/// form, always with a `.` or an exponent). Non-finite values, which checked specs never
/// hold, become `float("nan")` and the like rather than invalid source.
pub fn float(value: f64) -> String {
    if value.is_finite() {
        format!("{value:?}")
    } else if value.is_nan() {
        "float(\"nan\")".to_string()
    } else if value > 0.0 {
        "float(\"inf\")".to_string()
    } else {
        "float(\"-inf\")".to_string()
    }
}

/// An f32 as the float literal of its exact f64 value: Python then rounds it back to the same
/// f32, which a shorter decimal does not always guarantee through double rounding.
pub fn float32(value: f32) -> String {
    float(f64::from(value))
}

/// A Python list of f32 values.
pub fn float32_list(values: &[f32]) -> String {
    format!("[{}]", values.iter().map(|&v| float32(v)).collect::<Vec<_>>().join(", "))
}

/// A Python list of strings.
pub fn string_list(values: &[String]) -> String {
    format!("[{}]", values.iter().map(|v| string(v)).collect::<Vec<_>>().join(", "))
}

/// A JSON value as a Python literal (`None`, `True`, numbers, strings, lists, dicts), with
/// nested dicts one key per line at `indent` spaces: how the script's `SPEC` is written.
pub fn literal(value: &serde_json::Value, indent: usize) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) if n.is_f64() => float(n.as_f64().unwrap_or(f64::NAN)),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(items) => format!("[{}]", items.iter().map(|v| literal(v, indent)).collect::<Vec<_>>().join(", ")),
        Value::Object(map) if map.is_empty() => "{}".to_string(),
        Value::Object(map) => {
            let inner = " ".repeat(indent + 4);
            let mut out = String::from("{\n");
            for (key, value) in map {
                out += &format!("{inner}{}: {},\n", string(key), literal(value, indent + 4));
            }
            out + &" ".repeat(indent) + "}"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_never_keywords_builtins_or_empty() {
        assert_eq!(class_name("iris_petal_width"), "IrisPetalWidth");
        assert_eq!(class_name("xor"), "Xor");
        assert_eq!(class_name("none"), "NoneModel");
        assert_eq!(class_name("true"), "TrueModel");
        assert_eq!(class_name("class"), "Class");
        assert_eq!(class_name("_"), "Model");
        assert_eq!(class_name("__"), "Model");
        assert_eq!(class_name("value_error"), "ValueErrorModel");
        assert_eq!(class_name("cha_cha8"), "ChaCha8Model");
        assert_eq!(class_name("_2d"), "Model2d");
    }

    #[test]
    fn strings_escape_everything_that_could_end_them() {
        assert_eq!(string(r#"a"""b\c"#), r#""a\"\"\"b\\c""#);
        assert_eq!(string("x\ny\r\u{7}\u{e9}\u{2028}\u{1f600}"), r#""x\ny\r\x07\xe9\u2028\U0001f600""#);
        assert_eq!(doc_text("\"\"\""), r#"\"\"\""#);
    }

    #[test]
    fn floats_read_back_exactly() {
        assert_eq!(float(0.01), "0.01");
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(1e-8), "1e-8");
        assert_eq!(float(1e300), "1e300");
        assert_eq!(float32(0.1), "0.10000000149011612");
        assert_eq!(float(f64::NAN), "float(\"nan\")");
    }

    #[test]
    fn literals_are_python() {
        let value = serde_json::json!({"a\"": [1, 2.5, null, true], "b": {"c": "x"}, "d": {}});
        assert_eq!(
            literal(&value, 0),
            "{\n    \"a\\\"\": [1, 2.5, None, True],\n    \"b\": {\n        \"c\": \"x\",\n    },\n    \"d\": {},\n}"
        );
    }
}
